"""MRPC from GLUE (Dolan & Brockett 2005): are two news sentences paraphrases? Sentence pairs, 2
classes (about 68% paraphrases); GLUE reports F1 (of the paraphrase class) and accuracy.

Train 3,668 pairs; test = the GLUE dev set (408), since GLUE's test labels are hidden. Read from
``<data_dir>/glue/MRPC/{train,dev}.tsv`` (UTF-8 TSV with a byte-order mark, header ``Quality #1 ID
#2 ID #1 String #2 String``); without them, Hugging Face ``datasets`` downloads GLUE.
"""

from mtl_text import HubDataset, Task, read_local_or_hub, read_tsv, register_task

LABELS = ("not_equivalent", "equivalent")
HUB = HubDataset("nyu-mll/glue", "mrpc", splits={"train": "train", "test": "validation"},
                 columns={"text": "sentence1", "text_pair": "sentence2", "label": "label"})
FILES = {"train": "glue/MRPC/train.tsv", "test": "glue/MRPC/dev.tsv"}


def load(data_dir):
    return read_local_or_hub(
        "mrpc", data_dir, FILES,
        read=lambda path: read_tsv(path, text_field="#1 String", text_pair_field="#2 String", label_field="Quality", labels=LABELS,
                                   encoding="utf-8-sig"),
        hub=HUB,
        how_to_get="Or download MRPC from https://gluebenchmark.com/tasks.")


register_task(Task(name="mrpc", labels=LABELS, load=load, hub_dataset=HUB, max_length=128, text_pair=True, num_examples={"train": 3668, "test": 408},
                   description="MRPC (GLUE): are two sentences paraphrases? 2 classes (pairs; F1 and accuracy)"))
