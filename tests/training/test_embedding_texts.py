"""--embedding-texts: unlabelled texts that join the vocabulary and Word2Vec's text, never the training examples."""

import json

import pytest
from tokenizers import Tokenizer

from mtl_text import TrainingConfig
from mtl_text.cli.train import main as train_main
from mtl_text.errors import ConfigError

ARGS = ["--tasks", "trec", "--max-train-examples", "200", "--max-steps", "10", "--embedding-dim", "16", "--w2v-epochs", "1",
        "--seed", "3", "--patience", "0"]
NEW_WORDS = ["zyzzyva", "quokka"]  # in no TREC question


def vocabulary(model_dir):
    return Tokenizer.from_file(str(model_dir / "tokenizer.json")).get_vocab()


def test_unlabelled_texts_extend_the_vocabulary_but_not_the_training_split(tmp_path, data_dir, caplog):
    texts = tmp_path / "unlabelled.txt"
    texts.write_text("".join(f"what does a {w} eat ?\n" for w in NEW_WORDS * 2) + "a quokka smiles\n")
    with caplog.at_level("INFO", logger="mtl_text"):
        train_main(ARGS + ["--data-dir", str(data_dir), "--output-dir", str(tmp_path / "plain")])
        plain_log = caplog.text
        caplog.clear()
        train_main(ARGS + ["--data-dir", str(data_dir), "--output-dir", str(tmp_path / "extended"), "--embedding-texts", str(texts)])
    plain, extended = vocabulary(tmp_path / "plain"), vocabulary(tmp_path / "extended")
    assert not set(NEW_WORDS) & set(plain)
    assert set(NEW_WORDS) <= set(extended)  # each occurs twice: at --min-word-frequency 2
    assert "smiles" not in extended and "smiles" not in plain  # once only
    assert f"embedding texts: 5 unlabelled texts from {texts}" in caplog.text
    splits = [next(line for line in log.splitlines() if "task trec:" in line).split("task trec:")[1] for log in (plain_log, caplog.text)]
    assert splits[0] == splits[1]  # the training split is TREC's alone, as without the texts
    saved = json.loads((tmp_path / "extended" / "config.json").read_text())["training_config"]["encoder"]
    assert saved["embedding_texts"] == [str(texts)]


def test_embedding_texts_apply_to_new_word_vector_encoders_only(tmp_path, data_dir):
    with pytest.raises(ConfigError, match="--embedding-texts"):
        TrainingConfig.from_options(encoder="transformer", model_name_or_path="x", embedding_texts=["goemotions"])
    with pytest.raises(ConfigError, match="--embedding-texts: .*missing.txt' is neither a registered task nor a file"):
        train_main(ARGS + ["--data-dir", str(data_dir), "--output-dir", str(tmp_path / "m"), "--embedding-texts",
                           str(tmp_path / "missing.txt")])
