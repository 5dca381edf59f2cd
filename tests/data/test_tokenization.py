import datasets

from mtl_text.data.splits import column, load_task_splits, load_test_split
from mtl_text.data.tokenization import ascii_fast_path, ascii_word_level, tokenize_splits, train_word_tokenizer

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


# ASCII texts at the edges of BERT's pre-tokenization rule: every punctuation character, each whitespace
# character (vertical tab and form feed included), control characters (part of a word), an added token
EDGES = ["".join(map(chr, range(32, 127))), "a\tb\nc\x0bd\x0ce\rf g", "x\x00y\x1fz\x7f", "", "   ", "don't stop--now!!",
         "The [PAD] and [unk] tokens", "UPPER lower MiXeD 123abc", "word " * 300]


def test_ascii_word_level_gives_the_pipelines_ids(data_dir, shared_dir):
    """The Python word-level path gives the pipeline's ids on every ASCII text of real data (20
    Newsgroups posts, cut to 200 tokens, and SST-2 phrases) and on texts at the edges of the rule,
    with and without lower-casing; a text holding an added token is left to the pipeline; a
    transformer's tokenizer, or truncation from the left, gets no such path."""
    from transformers import AutoTokenizer

    texts = [t for task in ("sst2", "20newsgroups") for t in column(load_task_splits(task, data_dir)["test"], "text")[:800]]
    for lowercase in (True, False):
        backend = train_word_tokenizer(texts[::2] + EDGES[:1], lowercase=lowercase).backend_tokenizer  # half unseen: [UNK]s too
        backend.enable_truncation(200)
        words = ascii_word_level(backend)
        assert words is not None and words.lowercase is lowercase and words.max_length == 200
        plain = [t for t in texts + EDGES if words.handles(t)]
        assert len(plain) > 1500 and not words.handles("The [PAD] and [unk] tokens") and not words.handles("\ufb01ne")
        assert words(plain) == [e.ids for e in backend.encode_batch(plain)]
        assert max(map(len, words(plain))) == 200 and any(1 in row for row in words(plain))  # cut, and unknown words met
    backend.enable_truncation(200, direction="left")
    assert ascii_word_level(backend) is None
    assert ascii_word_level(AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2").backend_tokenizer) is None


def test_tokenized_splits_hold_the_tokenizers_ids(data_dir, shared_dir):
    """tokenize_splits (its ASCII fast paths included) gives what the tokenizer's own call gives: real
    single texts with and without non-ASCII characters through the word-level tokenizer and
    MiniLM's, and sentence pairs (MRPC) cut longest-first, with their segment ids."""
    from transformers import AutoTokenizer

    texts = [t for task in ("sst2", "20newsgroups") for t in column(load_test_split(task, data_dir), "text")[:300]] + EDGES
    texts += [t for t in column(load_test_split("20newsgroups", data_dir), "text") if not t.isascii()][:20]
    single = datasets.DatasetDict({"test": datasets.Dataset.from_dict({"text": texts, "label": [0] * len(texts)})})
    mrpc = load_test_split("mrpc", data_dir).select(range(200))
    pairs = datasets.DatasetDict({"test": mrpc})
    minilm = AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2")
    for tokenizer in (train_word_tokenizer(texts[::2]), minilm):
        for max_length in (16, 200):
            out = tokenize_splits(single, tokenizer, max_length)["test"]
            expected = tokenizer(texts, truncation=True, max_length=max_length)
            assert out["input_ids"][:] == expected["input_ids"] and out["attention_mask"][:] == expected["attention_mask"]
            out = tokenize_splits(pairs, tokenizer, max_length)["test"]
            expected = tokenizer(column(mrpc, "text"), column(mrpc, "text_pair"), truncation="longest_first", max_length=max_length,
                                 return_token_type_ids=True)
            assert out["input_ids"][:] == expected["input_ids"] and out["token_type_ids"][:] == expected["token_type_ids"]
            assert out["labels"][:] == column(mrpc, "label")


def test_word_sequences_are_the_pipelines_tokens(data_dir):
    """The words Word2Vec learns from: through the ASCII path or the pipeline, the same tokens, the
    unknown token for unseen words, no truncation."""
    from mtl_text.data.tokenization import word_sequences

    texts = [t for t in column(load_test_split("20newsgroups", data_dir), "text")[:300]] + EDGES + ["\ufb01ne caf\u00e9"]
    for lowercase in (True, False):
        tokenizer = train_word_tokenizer(texts[::2], lowercase=lowercase)  # half unseen: unknown words
        expected = [e.tokens for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]
        words = word_sequences(tokenizer, texts)
        assert words == expected and "[UNK]" in sum(words, []) and max(map(len, words)) > 1000
