"""GoEmotions (Demszky et al. 2020), simplified: Reddit comments with one or more of 28 emotions
(27 and ``neutral``): multi-label.

Train 43,410 / validation 5,426 / test 5,427 comments (the published splits; the paper's BERT-base
reaches macro-F1 0.46 on test). Read from ``<data_dir>/goemotions/{train,dev,test}.tsv`` (UTF-8 TSV
without header: text, comma-separated label ids, comment id) and ``emotions.txt`` (the 28 names in
id order); without them, Hugging Face ``datasets`` downloads the same splits.
"""

from mtl_text import DataFormatError, HubDataset, Task, missing_data_error, read_tsv, register_task

LABELS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire", "disappointment",
    "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness",
    "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)
HUB = HubDataset("google-research-datasets/go_emotions", "simplified",
                 splits={"train": "train", "validation": "validation", "test": "test"}, columns={"text": "text", "label": "labels"})
FILES = {"train": "goemotions/train.tsv", "validation": "goemotions/dev.tsv", "test": "goemotions/test.tsv"}


def load(data_dir):
    paths = {split: data_dir / name for split, name in FILES.items()} if data_dir else {}
    if paths and all(p.is_file() for p in paths.values()):
        names = (data_dir / "goemotions" / "emotions.txt").read_text(encoding="utf-8").split()
        if tuple(names) != LABELS:
            raise DataFormatError(f"{data_dir / 'goemotions' / 'emotions.txt'}: expected the 28 GoEmotions names in order, found {names}")
        return {split: read_tsv(p, text_field=0, label_field=1, labels=LABELS, header=False, multi_label=True)
                for split, p in paths.items()}
    try:
        return HUB.read()
    except Exception as e:
        raise missing_data_error("goemotions", list(paths.values()),
                                 "Or download it from https://github.com/google-research/google-research/tree/master/goemotions.",
                                 e) from e


register_task(Task(name="goemotions", labels=LABELS, load=load, hub_dataset=HUB, max_length=64, problem_type="multi_label_classification",
                   num_examples={"train": 43410, "validation": 5426, "test": 5427},
                   wide=False,  # the wide part lowered macro-F1 by 0.055 [0.042, 0.066], three seeds (docs/tasks.md)
                   description="GoEmotions: emotions of a Reddit comment, 28 labels, multi-label"))
