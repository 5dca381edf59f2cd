"""TREC question classification (Li & Roth 2002), coarse labels: 6 classes.

Train 5,452 / test 500 questions. Read from ``<data_dir>/trec/{train_5500,TREC_10}.label`` (one
``COARSE:fine question`` per line, latin-1); without them, Hugging Face ``datasets`` downloads it.
"""

from mtl_text import DataFormatError, HubDataset, Task, read_local_or_hub, register_task

LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
HUB = HubDataset("CogComp/trec", columns={"text": "text", "label": "coarse_label"})  # class names, whatever their order there
FILES = {"train": "trec/train_5500.label", "test": "trec/TREC_10.label"}


def read_label_file(path):
    texts, labels = [], []
    with open(path, encoding="latin-1") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            label, sep, text = line.partition(" ")
            coarse = label.split(":", 1)[0]
            if not sep or ":" not in label or coarse not in LABELS:
                raise DataFormatError(f"{path}, line {line_no}: expected 'COARSE:fine question', COARSE one of {list(LABELS)}")
            texts.append(text)
            labels.append(coarse)
    return {"text": texts, "label": labels, "source": str(path)}


def load(data_dir):
    return read_local_or_hub("trec", data_dir, FILES, read=read_label_file, hub=HUB,
                             how_to_get="Or download it from https://cogcomp.seas.upenn.edu/Data/QA/QC/.")


register_task(Task(name="trec", labels=LABELS, load=load, hub_dataset=HUB, max_length=64, num_examples={"train": 5452, "test": 500},
                   description="TREC: type of a question, 6 coarse classes"))
