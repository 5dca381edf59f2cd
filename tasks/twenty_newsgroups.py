"""20 Newsgroups, "bydate" split (Lang 1995; Rennie's sorted-by-date version): topic, 20 classes.

Train 11,314 / test 7,532 posts, headers kept. Read from ``<data_dir>/20newsgroups/20news-bydate.tar.gz``
(decoded as latin-1, as scikit-learn does); without it, scikit-learn's ``fetch_20newsgroups``
downloads the same archive.
"""

import tarfile

from mtl_text import Task, missing_data_error, register_task

ARCHIVE = "20newsgroups/20news-bydate.tar.gz"
LABELS = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med", "sci.space",
    "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast", "talk.politics.misc",
    "talk.religion.misc",
)


def read_archive(path):
    """Read the bydate tarball: members ``20news-bydate-{train,test}/<group>/<id>``, in sorted order."""
    splits = {"train": [], "test": []}
    with tarfile.open(path) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 3:
                continue
            split = parts[-3].rsplit("-", 1)[-1]
            text = tar.extractfile(member).read().decode("latin-1")
            splits[split].append((parts[-2], parts[-1], text))
    for rows in splits.values():
        rows.sort(key=lambda r: (r[0], int(r[1])))
    return {split: {"text": [t for _, _, t in rows], "label": [g for g, _, _ in rows]} for split, rows in splits.items()}


def load(data_dir):
    archive = data_dir / ARCHIVE if data_dir else None
    if archive is not None and archive.is_file():
        return read_archive(archive)
    try:
        from sklearn.datasets import fetch_20newsgroups

        return {split: {"text": (d := fetch_20newsgroups(subset=split, remove=())).data,
                        "label": [d.target_names[i] for i in d.target]} for split in ("train", "test")}
    except Exception as e:
        raise missing_data_error("20newsgroups", [archive] if archive else [],
                                 "Or download 20news-bydate.tar.gz from http://qwone.com/~jason/20Newsgroups/.", e) from e


# Posts are long (median ~300 tokens, 90% under 1,000) and most of their words say nothing about the
# topic: learned attention pooling picks out the words that do.
register_task(Task(name="20newsgroups", labels=LABELS, load=load, max_length=1000, pooling="attention",
                   description="20 Newsgroups bydate: topic of a Usenet post, 20 classes"))
