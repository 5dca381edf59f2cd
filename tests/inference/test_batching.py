"""Length-sorted prediction batches: limits on texts and tokens per pass, and outputs identical to
one pass per text, in input order."""

import pytest
import torch

from mtl_text import ConfigError, InputError, Predictor
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

TEXTS = ["who won the cup ?", "a dull , tedious film that goes on and on and on", "", "great fun", "where is the station ?",
         "the film", "on and on and on and on and on and on and on the cup the cup the film"]


@pytest.fixture(scope="module")
def predictor():
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8, conv_filters=3, conv_widths=[2]),
                           {"qtype": {"labels": ["HUM", "LOC"], "max_length": 16}, "mood": {"labels": ["neg", "pos"], "max_length": 16}},
                           pooling={"qtype": "attention", "mood": "mean"}, head_hidden_size=4)
    return Predictor(model, tokenizer, batch_size=3, max_batch_tokens=20)


def test_batches_are_sorted_and_within_both_limits(predictor):
    lengths = [5, 12, 0, 2, 5, 2, 16]
    batches = predictor.batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 20)
    assert [len(b) for b in batches] == [3, 2, 1, 1]  # [0, 2, 2] [5, 5] [12] [16]: 16 tokens alone, 2 x 12 > 20
    assert predictor.batches([6, 0, 2]) == [[0, 1, 2]] and predictor.batches([]) == []  # one pass fits: input order
    assert predictor.batches([6, 0, 7]) == [[1, 0], [2]]  # 3 x 7 > 20


def test_sorted_passes_give_the_outputs_of_one_pass_per_text_in_input_order(predictor):
    sorted_passes = predictor.predict_logits(TEXTS)
    one_by_one = {t: torch.cat([predictor.predict_logits([text])[t] for text in TEXTS]) for t in ("qtype", "mood")}
    for task in ("qtype", "mood"):
        assert torch.allclose(sorted_passes[task], one_by_one[task], atol=1e-6)


def test_bad_token_limit_raises(predictor):
    with pytest.raises(ConfigError, match="--max-batch-tokens"):
        Predictor(predictor.model, predictor.tokenizer, max_batch_tokens=0)


def test_a_datasets_column_or_a_tuple_predicts_as_a_list(predictor):
    import datasets

    column = datasets.Dataset.from_dict({"text": TEXTS})["text"]
    expected = predictor.predict(TEXTS)
    assert predictor.predict(column) == expected and predictor.predict(tuple(TEXTS)) == expected
    assert torch.equal(predictor.predict_labels(column)["qtype"], predictor.predict_labels(TEXTS)["qtype"])


def test_predict_iter_gives_predicts_results_chunk_by_chunk(predictor):
    expected = predictor.predict(TEXTS)
    results = predictor.predict_iter(TEXTS, chunk_size=3)
    before = predictor.encoder_passes
    first = next(results)
    after_first = predictor.encoder_passes  # only the first chunk of 3 is scored yet
    rest = list(results)
    assert before < after_first < predictor.encoder_passes and [first, *rest] == expected
    assert list(predictor.predict_iter([], chunk_size=3)) == []
    with pytest.raises(ValueError, match="chunk_size must be >= 1, got 0"):
        next(predictor.predict_iter(TEXTS, chunk_size=0))
    with pytest.raises(InputError, match="7 texts but 2 second texts"):
        next(predictor.predict_iter(TEXTS, text_pairs=["a", "b"]))


def test_predict_iter_reads_iterators_a_chunk_at_a_time(predictor):
    pulled = []

    def texts():
        for text in TEXTS:
            pulled.append(text)
            yield text

    results = predictor.predict_iter(texts(), chunk_size=3)
    first = next(results)
    assert len(pulled) == 3  # the first chunk only
    assert [first, *results] == predictor.predict(TEXTS)
    with pytest.raises(InputError, match="text_pairs ran out after 2 second texts, before the texts"):
        next(predictor.predict_iter(iter(TEXTS), text_pairs=iter(["a", "b"]), chunk_size=3))
    with pytest.raises(InputError, match="0 texts but more second texts"):
        next(predictor.predict_iter(iter([]), text_pairs=iter(["a"])))


def test_top_k_keeps_the_most_probable_labels_first(predictor):
    whole = predictor.predict(TEXTS)
    for k in (1, 2, 5):
        cut = predictor.predict(TEXTS, top_k=k)
        assert list(predictor.predict_iter(TEXTS, chunk_size=3, top_k=k)) == cut
        for full, short in zip(whole, cut):
            for task, output in short["predictions"].items():
                ranked = sorted(full["predictions"][task]["probabilities"].items(), key=lambda kv: -kv[1])[:k]
                assert list(output["probabilities"].items()) == ranked and output["label"] == full["predictions"][task]["label"]
    assert predictor.model.head("qtype").top_k({"value": 1.5}, 1) == {"value": 1.5}  # no probabilities: unchanged
    with pytest.raises(ValueError, match="top_k must be >= 1, got 0"):
        predictor.predict(TEXTS, top_k=0)
