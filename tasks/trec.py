"""TREC question classification (Li & Roth 2002), coarse labels: 6 classes.

Train 5,452 / test 500 questions. Read from ``<data_dir>/trec/{train_5500,TREC_10}.label`` (one
``COARSE:fine question`` per line, latin-1); without them, Hugging Face ``datasets`` downloads it.
"""

from mtl_text import DataFormatError, HubDataset, Task, missing_data_error, register_task

LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
HUB = HubDataset("CogComp/trec")  # read by load() below: its coarse labels are ids in another order than LABELS
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
    paths = {split: data_dir / name for split, name in FILES.items()} if data_dir else {}
    if paths and all(p.is_file() for p in paths.values()):
        return {split: read_label_file(p) for split, p in paths.items()}
    try:
        import datasets

        trec = datasets.load_dataset(HUB.path)
        names = trec["train"].features["coarse_label"].names
        return {split: {"text": trec[split]["text"], "label": [names[i] for i in trec[split]["coarse_label"]]}
                for split in ("train", "test")}
    except Exception as e:
        raise missing_data_error("trec", list(paths.values()),
                                 "Or download it from https://cogcomp.seas.upenn.edu/Data/QA/QC/.", e) from e


register_task(Task(name="trec", labels=LABELS, load=load, hub_dataset=HUB, max_length=64, num_examples={"train": 5452, "test": 500},
                   description="TREC: type of a question, 6 coarse classes"))
