"""STS-B from GLUE (Cer et al. 2017): how similar are two sentences, from 0 to 5? Sentence pairs,
regression; GLUE reports the Pearson and Spearman correlations.

Train 5,749 pairs; test = the GLUE dev set (1,500), since GLUE's test labels are hidden. Read from
``<data_dir>/glue/STS-B/{train,dev}.tsv`` (UTF-8 TSV, header ``index genre filename year old_index
source1 source2 sentence1 sentence2 score``); without them, Hugging Face ``datasets`` downloads GLUE.
"""

from mtl_text import HubDataset, Task, read_local_or_hub, read_tsv, register_task

HUB = HubDataset("nyu-mll/glue", "stsb", splits={"train": "train", "test": "validation"},
                 columns={"text": "sentence1", "text_pair": "sentence2", "label": "label"})
FILES = {"train": "glue/STS-B/train.tsv", "test": "glue/STS-B/dev.tsv"}


def load(data_dir):
    return read_local_or_hub(
        "stsb", data_dir, FILES,
        read=lambda path: read_tsv(path, text_field="sentence1", text_pair_field="sentence2", label_field="score"),
        hub=HUB,
        how_to_get="Or download STS-B from https://gluebenchmark.com/tasks.")


register_task(Task(name="stsb", labels=("similarity",), load=load, max_length=128, problem_type="regression", text_pair=True,
                   num_examples={"train": 5749, "test": 1500},
                   description="STS-B (GLUE): similarity of two sentences, 0-5 (regression, pairs; Pearson/Spearman)"))
