"""Helpers shared by several test modules (tests/ is on sys.path through its conftest)."""

import json
import textwrap

import torch
from transformers import BertConfig, BertModel

USER_TASK = textwrap.dedent('''
    from mtl_text import Task, read_jsonl, register_task

    LABELS = ["question", "statement"]

    def load(data_dir):
        return {split: read_jsonl(data_dir / f"{split}.jsonl", labels=LABELS) for split in ("train", "test")}

    register_task(Task(name="punctuation_{suffix}", labels=LABELS, load=load, max_length=32))
''')


def write_user_task(tmp_path, suffix, n=40):
    """A user's own task file (and its JSON Lines data) in ``tmp_path``: task ``punctuation_<suffix>``,
    an easy two-class task (questions vs statements)."""
    for split in ("train", "test"):
        with open(tmp_path / f"{split}.jsonl", "w") as f:
            for i in range(n):
                text, label = (f"is this number {i} odd ?", "question") if i % 2 else (f"this is number {i} .", "statement")
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    path = tmp_path / "my_task.py"
    path.write_text(USER_TASK.replace("{suffix}", suffix))
    return path


def tiny_bert(vocab_size=100, layers=3, seed=0, max_positions=64):
    """A randomly initialised BERT of hidden size 32 (fast on a CPU)."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=max_positions)
    return BertModel(config)


def predictor_accuracy(model_dir, data_dir, task, seed):
    """Test accuracy of the model saved in ``model_dir`` on ``task``, scored by :class:`mtl_text.Predictor`
    (the path users predict with), on the test split that training with ``seed`` used."""
    import mtl_text
    from mtl_text.data.splits import column

    predictor = mtl_text.Predictor.from_pretrained(model_dir, batch_size=64)
    test = mtl_text.load_task_splits(task, data_dir, seed=seed)["test"]
    predicted = predictor.predict_labels(column(test, "text"), [task])[task]
    return (predicted == torch.tensor(column(test, "label"))).sum().item() / len(test)
