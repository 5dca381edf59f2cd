"""SST-2 from GLUE (Socher et al. 2013; Wang et al. 2019): sentence sentiment, 2 classes.

Train 67,349 phrases of 6,920 sentences; test = the GLUE dev set (872 sentences), since GLUE's test
labels are hidden. The validation split is carved by sentence (a sentence with its phrases,
``phrase_groups``), so that it scores phrases of sentences that training has not seen. Read
from ``<data_dir>/sst2/{train,dev}.tsv``; without them, Hugging Face ``datasets`` downloads GLUE.
"""

from mtl_text import HubDataset, Task, phrase_groups, read_local_or_hub, read_tsv, register_task

LABELS = ("negative", "positive")
HUB = HubDataset("nyu-mll/glue", "sst2", splits={"train": "train", "test": "validation"},
                 columns={"text": "sentence", "label": "label"})
FILES = {"train": "sst2/train.tsv", "test": "sst2/dev.tsv"}


def load(data_dir):
    return read_local_or_hub(
        "sst2", data_dir, FILES,
        read=lambda path: read_tsv(path, text_field="sentence", label_field="label", labels=LABELS),
        hub=HUB,
        how_to_get="Or download SST-2 from https://gluebenchmark.com/tasks.")


register_task(Task(name="sst2", labels=LABELS, load=load, hub_dataset=HUB, max_length=64, num_examples={"train": 67349, "test": 872},
                   validation_groups=phrase_groups,
                   description="SST-2 (GLUE): sentiment of a movie-review sentence, 2 classes"))
