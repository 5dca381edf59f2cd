"""RTE from GLUE (recognising textual entailment; Dagan et al. 2005 and its successors): does the
first text entail the second? Sentence pairs, 2 classes; GLUE reports accuracy.

Train 2,490 pairs; test = the GLUE dev set (277), since GLUE's test labels are hidden. Read from
``<data_dir>/glue/RTE/{train,dev}.tsv`` (UTF-8 TSV, header ``index sentence1 sentence2 label``);
without them, Hugging Face ``datasets`` downloads GLUE.
"""

from mtl_text import HubDataset, Task, read_local_or_hub, read_tsv, register_task

LABELS = ("entailment", "not_entailment")
HUB = HubDataset("nyu-mll/glue", "rte", splits={"train": "train", "test": "validation"},
                 columns={"text": "sentence1", "text_pair": "sentence2", "label": "label"})
FILES = {"train": "glue/RTE/train.tsv", "test": "glue/RTE/dev.tsv"}


def load(data_dir):
    return read_local_or_hub(
        "rte", data_dir, FILES,
        read=lambda path: read_tsv(path, text_field="sentence1", text_pair_field="sentence2", labels=LABELS),
        hub=HUB,
        how_to_get="Or download RTE from https://gluebenchmark.com/tasks.")


register_task(Task(name="rte", labels=LABELS, load=load, hub_dataset=HUB, max_length=256, text_pair=True, num_examples={"train": 2490, "test": 277},
                   description="RTE (GLUE): does the first text entail the second? 2 classes (pairs; accuracy)"))
