"""Multi-Domain Sentiment Dataset (Blitzer, Dredze & Pereira 2007, "Biographies, Bollywood, Boom-boxes
and Blenders: Domain Adaptation for Sentiment Classification"): Amazon reviews of four product
domains, 2 classes each; the classic domain-adaptation benchmark.

One task per domain, ``amazon_books``, ``amazon_dvd``, ``amazon_electronics`` and
``amazon_kitchen``: the same labels (negative, positive), so a head trained on one domain scores
another (``mtl-text evaluate --task amazon_dvd --head amazon_books``) and ``--adapt`` can align them.

Each domain has 1,000 positive and 1,000 negative labelled reviews and no official split; as in the
papers, a seeded stratified split of 1,600 train / 400 test per domain. The split uses its own fixed
seed (:data:`SPLIT_SEED`), not ``--seed``, so every run and every seed is scored on the same 400
test reviews. The text of an example is the review's title, a new line, and its body.

Read from ``<data_dir>/amazon-multi-domain/<domain>/{positive,negative}.review``: pseudo-XML, a
sequence of ``<review>`` elements with no root and raw ``&`` in text, so it is parsed leniently
(element by element with regular expressions). A review whose rating disagrees with its file (1-2
stars in ``positive.review``, 4-5 in ``negative.review``) or that lacks a rating or text is an error
naming the file and line. The data is not on the Hugging Face Hub in this form; without the files,
the error says where to download them.
"""

import re

from mtl_text import DataFormatError, Task, missing_data_error, register_task

DOMAINS = ("books", "dvd", "electronics", "kitchen")
LABELS = ("negative", "positive")
SPLIT_SEED = 0  # the fixed seed of the 1,600 / 400 split: the same test reviews for every run
TEST_PER_DOMAIN = 400
URL = "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/"

_REVIEW = re.compile(r"<review>(.*?)</review>", re.DOTALL)


def _field(body: str, name: str) -> str | None:
    match = re.search(rf"<{name}>(.*?)</{name}>", body, re.DOTALL)
    return match.group(1).strip() if match else None


def read_review_file(path, label: str) -> dict[str, list]:
    """The reviews of one ``positive.review`` / ``negative.review`` file as columns ``text``,
    ``label`` (every row ``label``), with the file and each review's line for messages.

    Raises:
        DataFormatError: a review without ``<rating>`` or ``<review_text>``, or whose rating (1-2:
            negative, 4-5: positive) disagrees with ``label``; named by file and line.
    """
    with open(path, encoding="utf-8") as f:
        content = f.read()
    texts, lines, line, counted = [], [], 1, 0
    for match in _REVIEW.finditer(content):
        line, counted = line + content.count("\n", counted, match.start()), match.start()  # the review's line, counted onwards
        body = match.group(1)
        rating, text = _field(body, "rating"), _field(body, "review_text")
        if rating is None or text is None or not text:
            raise DataFormatError(f"{path}, line {line}: a review without <rating> or <review_text>")
        try:
            stars = float(rating)
        except ValueError:
            raise DataFormatError(f"{path}, line {line}: rating must be a number of stars, found {rating!r}") from None
        if (stars >= 4) != (label == "positive") or 2 < stars < 4:
            raise DataFormatError(f"{path}, line {line}: a {stars:g}-star review in a file of {label} reviews (expected "
                                  f"{'4-5' if label == 'positive' else '1-2'} stars)")
        title = _field(body, "title") or ""
        texts.append(f"{title}\n{text}" if title else text)
        lines.append(line)
    return {"text": texts, "label": [label] * len(texts), "lines": lines}


def load_domain(data_dir, domain: str) -> dict[str, dict]:
    """One domain's reviews split 1,600 / 400 (stratified, :data:`SPLIT_SEED`).

    Raises:
        DataNotFoundError: the domain's files are not in ``data_dir``.
        DataFormatError: as :func:`read_review_file`.
    """
    from sklearn.model_selection import train_test_split

    paths = {label: data_dir / "amazon-multi-domain" / domain / f"{label}.review" for label in LABELS} if data_dir else {}
    if not paths or not all(p.is_file() for p in paths.values()):
        raise missing_data_error(f"amazon_{domain}", list(paths.values()),
                                 f"Download the labelled reviews (unprocessed.tar.gz) from {URL} and keep <domain>/positive.review "
                                 "and negative.review under amazon-multi-domain/.")
    rows = [(text, label) for label, path in paths.items() for text in read_review_file(path, label)["text"]]
    train, test = train_test_split(rows, test_size=TEST_PER_DOMAIN, stratify=[r[1] for r in rows], random_state=SPLIT_SEED)
    return {split: {"text": [r[0] for r in part], "label": [r[1] for r in part]} for split, part in (("train", train), ("test", test))}


for _domain in DOMAINS:
    register_task(Task(
        name=f"amazon_{_domain}", labels=LABELS, load=lambda data_dir, d=_domain: load_domain(data_dir, d), max_length=256,
        num_examples={"train": 1600, "test": 400},
        description=f"Amazon {_domain} reviews (Blitzer et al. 2007): sentiment, 2 classes; a domain-adaptation domain"))
