"""CoLA from GLUE (Warstadt et al. 2019): is the sentence grammatical? 2 classes, imbalanced (about
70% acceptable); GLUE reports the Matthews correlation, which is also what model selection uses
here (accuracy would favour predicting "acceptable" for everything).

Train 8,551 sentences; test = the GLUE dev set (1,043), since GLUE's test labels are hidden. Read from
``<data_dir>/glue/CoLA/{train,dev}.tsv`` (UTF-8 TSV without header: source, label 0/1, original
mark, sentence); without them, Hugging Face ``datasets`` downloads GLUE. Try ``--class-weights
cola=balanced`` for the imbalance.
"""

from mtl_text import HubDataset, Task, read_local_or_hub, read_tsv, register_task

LABELS = ("unacceptable", "acceptable")
HUB = HubDataset("nyu-mll/glue", "cola", splits={"train": "train", "test": "validation"},
                 columns={"text": "sentence", "label": "label"})
FILES = {"train": "glue/CoLA/train.tsv", "test": "glue/CoLA/dev.tsv"}


def load(data_dir):
    return read_local_or_hub(
        "cola", data_dir, FILES,
        read=lambda path: read_tsv(path, text_field=3, label_field=1, labels=LABELS, header=False),
        hub=HUB,
        how_to_get="Or download CoLA from https://gluebenchmark.com/tasks.")


register_task(Task(name="cola", labels=LABELS, load=load, hub_dataset=HUB, max_length=64, num_examples={"train": 8551, "test": 1043},
                   primary_metric="matthews_corrcoef",
                   description="CoLA (GLUE): is the sentence grammatical? 2 classes, imbalanced (Matthews correlation)"))
