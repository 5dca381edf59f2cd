import datasets

from mtl_text.data.tokenization import tokenize_splits, train_word_tokenizer

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
