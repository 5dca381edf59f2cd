"""CoLA from GLUE (Warstadt et al. 2019): is the sentence grammatical? 2 classes, imbalanced (about
70% acceptable); GLUE reports the Matthews correlation, which is also what model selection uses
here (accuracy would favour predicting "acceptable" for everything).

Train 8,551 sentences; test = the GLUE dev set (1,043), since GLUE's test labels are hidden. Read from
``<data_dir>/glue/CoLA/{train,dev}.tsv`` (UTF-8 TSV without header: source, label 0/1, original
mark, sentence); without them, Hugging Face ``datasets`` downloads GLUE. Try ``--class-weights
cola=balanced`` for the imbalance.
"""

from mtl_text import Task, missing_data_error, read_hub_dataset, read_tsv, register_task

LABELS = ("unacceptable", "acceptable")
FILES = {"train": "glue/CoLA/train.tsv", "test": "glue/CoLA/dev.tsv"}


def load(data_dir):
    paths = {split: data_dir / name for split, name in FILES.items()} if data_dir else {}
    if paths and all(p.is_file() for p in paths.values()):
        return {split: read_tsv(p, text_field=3, label_field=1, labels=LABELS, header=False) for split, p in paths.items()}
    try:
        return read_hub_dataset("nyu-mll/glue", "cola", {"train": "train", "test": "validation"},
                                {"text": "sentence", "label": "label"})
    except Exception as e:
        raise missing_data_error("cola", list(paths.values()), "Or download CoLA from https://gluebenchmark.com/tasks.", e) from e


register_task(Task(name="cola", labels=LABELS, load=load, max_length=64, num_examples={"train": 8551, "test": 1043},
                   primary_metric="matthews_corrcoef",
                   description="CoLA (GLUE): is the sentence grammatical? 2 classes, imbalanced (Matthews correlation)"))
