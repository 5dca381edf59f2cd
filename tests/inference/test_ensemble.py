"""Ensemble: the mean of its members' logits (members with their own tokenizers and encoders),
decoded by the first member's heads; its tasks are those every member has with the same head; bad
ensembles and requests get typed errors."""

import pytest
import torch

from mtl_text import ConfigError, Ensemble, InputError, Predictor, UnknownHeadError
from mtl_text.data.splits import column, load_test_split
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

MOOD = {"labels": ["negative", "positive"], "max_length": 32}
TOPIC = {"labels": ["a", "b", "c"], "max_length": 32}


def save_model(directory, texts, tasks, seed, conv=False, wide=0):
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    torch.manual_seed(seed)
    encoder = WordVectorEncoder(len(tokenizer.get_vocab()), 8, **({"conv_filters": 4, "conv_widths": [2, 3]} if conv else {}))
    model = MultiTaskModel(encoder, tasks, pooling="mean", head_hidden_size=4, wide_buckets=wide)
    model.save_pretrained(directory, tokenizer, {"training_config": {}})
    return directory


@pytest.fixture(scope="module")
def sentences(data_dir):
    return column(load_test_split("sst2", data_dir), "text")[:60]


@pytest.fixture(scope="module")
def members(tmp_path_factory, sentences):
    root = tmp_path_factory.mktemp("ensemble")
    return [save_model(root / "words", sentences[:40], {"sst2": MOOD, "topic": TOPIC}, seed=0),  # its own vocabulary
            save_model(root / "cnn", sentences[20:], {"sst2": MOOD}, seed=1, conv=True),
            save_model(root / "wide", sentences, {"sst2": MOOD, "topic": TOPIC}, seed=2, wide=256)]


def test_logits_are_the_mean_of_the_members_and_the_first_head_decodes(members, sentences):
    ensemble = Ensemble.from_pretrained(members)
    assert ensemble.tasks == ["sst2"]  # "topic" is missing from the CNN model
    singles = [Predictor.from_pretrained(m).predict_logits(sentences, ["sst2"])["sst2"] for m in members]
    expected = torch.stack(singles).mean(0)
    got = ensemble.predict_logits(sentences)["sst2"]
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, singles[0])  # every member counts
    assert torch.equal(ensemble.predict_labels(sentences)["sst2"], expected.argmax(-1))
    results = ensemble.predict(sentences[:3])
    assert [r["predictions"]["sst2"]["label"] for r in results] == [MOOD["labels"][i] for i in expected[:3].argmax(-1).tolist()]
    assert sum(results[0]["predictions"]["sst2"]["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    pair = Ensemble.from_pretrained([members[0], members[2]])
    assert pair.tasks == ["sst2", "topic"]


def test_bad_ensembles_and_requests_are_refused(members, tmp_path, sentences):
    with pytest.raises(ConfigError, match="two or more"):
        Ensemble.from_pretrained(members[:1])
    relabelled = save_model(tmp_path / "relabelled", sentences, {"sst2": {**MOOD, "labels": ["positive", "negative"]}}, seed=3)
    with pytest.raises(ConfigError, match="same head"):
        Ensemble.from_pretrained([members[1], relabelled])
    def score(mean):  # a regression task whose outputs are in the units its target scaling sets
        return {"score": {"labels": ["score"], "max_length": 32, "problem_type": "regression",
                          "head_options": {"target_mean": [mean], "target_std": [2.0]}}}

    same = [save_model(tmp_path / f"score{i}", sentences, score(3.0), seed=i) for i in range(2)]
    assert Ensemble.from_pretrained(same).tasks == ["score"]
    with pytest.raises(ConfigError, match="same head"):
        Ensemble.from_pretrained([same[0], save_model(tmp_path / "shifted", sentences, score(2.5), seed=5)])
    ensemble = Ensemble.from_pretrained(members)
    with pytest.raises(UnknownHeadError, match="topic"):
        ensemble.predict_logits(sentences, ["topic"])
    with pytest.raises(InputError, match="pairs"):
        ensemble.predict_logits(sentences[:2], text_pairs=sentences[2:4])


def test_the_command_line_predicts_with_the_ensemble(members, sentences, capsys):
    import json

    from mtl_text.cli.predict import main

    assert main(["--model", str(members[0]), "--ensemble-with", str(members[1]), str(members[2]), "--", *sentences[:4]]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = Ensemble.from_pretrained(members).predict(sentences[:4])
    assert lines == expected and [r["text"] for r in lines] == sentences[:4]
    with pytest.raises(UnknownHeadError, match="topic"):
        main(["--model", str(members[0]), "--ensemble-with", str(members[1]), "--tasks", "topic", "--", "a film"])


def test_evaluate_scores_the_ensemble_on_a_whole_test_split(members, data_dir, tmp_path):
    """``evaluate_ensemble`` / ``mtl-text evaluate --ensemble-with``: the ensemble's predictions on
    SST-2's 872 test sentences, their references, and the metrics computed from them."""
    import json

    from mtl_text.cli.evaluate import main
    from mtl_text.inference.evaluation import evaluate_ensemble

    predictions = {}
    results = evaluate_ensemble(members, data_dir=str(data_dir), predictions=predictions)
    test = load_test_split("sst2", data_dir)
    expected, references = Ensemble.from_pretrained(members).predict_labels(column(test, "text"))["sst2"], column(test, "label")
    assert list(results) == ["sst2"] and results["sst2"]["examples"] == 872
    assert predictions["sst2"]["predictions"] == expected.tolist() and predictions["sst2"]["references"] == references
    assert results["sst2"]["accuracy"] == pytest.approx((expected == torch.tensor(references)).double().mean().item())
    out = tmp_path / "predictions.json"
    assert main(["--model", str(members[0]), "--ensemble-with", str(members[1]), str(members[2]), "--data-dir", str(data_dir),
                 "--predictions", str(out)]) == 0
    assert json.loads(out.read_text()) == predictions
    # its own test sentences as a labelled file (--input) score as its task does, predictions and all
    (tmp_path / "sst2.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                                                 for t, y in zip(column(test, "text"), references)))
    assert main(["--model", str(members[0]), "--ensemble-with", str(members[1]), str(members[2]), "--head", "sst2", "--input",
                 str(tmp_path / "sst2.jsonl"), "--predictions", str(out), "--json", str(tmp_path / "m.json")]) == 0
    assert json.loads(out.read_text()) == {"sst2": predictions["sst2"]}
    assert json.loads((tmp_path / "m.json").read_text())["sst2"] == pytest.approx(results["sst2"])
    with pytest.raises(ConfigError, match="head sst2 has labels .* task trec has"):
        main(["--model", str(members[0]), "--ensemble-with", str(members[1]), "--task", "trec", "--head", "sst2"])
    with pytest.raises(UnknownHeadError, match="topic"):
        evaluate_ensemble(members, ["topic"], data_dir=str(data_dir))
