import datasets

from mtl_text.data.splits import column, load_task_splits
from mtl_text.data.tokenization import ascii_fast_path, tokenize_splits, train_word_tokenizer

TEXTS = ["the movie was great fun", "a dull , lifeless film", "who wrote hamlet ?", "where is the louvre ?"]


def splits():
    return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": TEXTS, "label": [1, 0, 0, 1]}),
                                 "test": datasets.Dataset.from_dict({"text": TEXTS[:2], "label": [1, 0]})})


def test_truncation_keeps_the_first_tokens():
    tok = train_word_tokenizer(TEXTS)
    out = tokenize_splits(splits(), tok, max_length=3)
    assert out["train"][0]["input_ids"] == tok("the movie was")["input_ids"]
    assert out["train"]["labels"][:] == [1, 0, 0, 1] and len(out["test"]) == 2


def test_tokenized_splits_are_cached_by_content(tmp_path):
    tok = train_word_tokenizer(TEXTS)
    first = tokenize_splits(splits(), tok, max_length=4, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2  # one Arrow file per split
    again = tokenize_splits(splits(), tok, max_length=4, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # read back, nothing new written
    assert again["train"][:] == first["train"][:]
    longer = tokenize_splits(splits(), tok, max_length=5, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 4 and longer["train"][0]["input_ids"] != first["train"][0]["input_ids"]
    other = splits()
    other["train"] = datasets.Dataset.from_dict({"text": TEXTS[::-1], "label": [1, 0, 0, 1]})
    assert tokenize_splits(other, tok, max_length=4, cache_dir=tmp_path)["train"][0]["input_ids"] == tok("where is the louvre")["input_ids"]


def test_ascii_fast_path_gives_the_same_ids_on_real_ascii_texts(data_dir, shared_dir):
    """The ASCII fast path drops NFKC and nothing else, and tokenizes every ASCII text of real data
    (20 Newsgroups posts, SST-2 phrases) exactly as the whole pipeline does; a BERT tokenizer's single
    BertNormalizer step is kept, so it has no fast path."""
    from transformers import AutoTokenizer

    texts = [t for task in ("sst2", "20newsgroups") for t in column(load_task_splits(task, data_dir)["test"], "text")[:800]]
    backend = train_word_tokenizer(texts[::2]).backend_tokenizer  # half the texts unseen: [UNK]s too
    backend.enable_truncation(200)
    fast = ascii_fast_path(backend)
    assert [n.__class__.__name__ for n in fast.normalizer] == ["Lowercase"]
    plain = [t for t in texts if t.isascii()]
    assert len(plain) > 1500
    assert [e.ids for e in fast.encode_batch(plain)] == [e.ids for e in backend.encode_batch(plain)]
    assert fast.encode("\ufb01ne").ids != backend.encode("\ufb01ne").ids  # not for other texts: NFKC changes them
    assert ascii_fast_path(AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2").backend_tokenizer) is None
