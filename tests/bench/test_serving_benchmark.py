"""The load test runs end to end on real SST-2 sentences: offline and served figures for each client
level, every request answered, the dynamic batching visible in texts per encoder pass."""

import json
import subprocess

import torch

from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel


def test_load_test_reports_each_level(tmp_path, data_dir, python, repo):
    texts = ["a gripping , beautiful film", "a dull , tedious film", "the film"]
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), {"sst2": {"labels": ["negative", "positive"], "max_length": 64}},
                           pooling="mean", head_hidden_size=4)
    model.save_pretrained(tmp_path / "model", tokenizer, {"training_config": {}})
    out = tmp_path / "results"
    proc = subprocess.run([python, str(repo / "scripts" / "benchmark_serving.py"), "--model", str(tmp_path / "model"), "--data-dir",
                           str(data_dir), "--clients", "1", "16", "--seconds", "1.5", "--offline-seconds", "0.2", "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["offline"]) == {"64", "256"} and all(r["texts_per_second"] > 0 for r in results["offline"].values())
    one, sixteen = results["levels"]
    assert one["clients"] == 1 and sixteen["clients"] == 16
    assert one["errors"] == sixteen["errors"] == 0 and one["requests"] > 0
    assert one["texts_per_encoder_pass"] == 1.0  # a lone client is never batched with anybody
    assert sixteen["texts_per_encoder_pass"] > 1.0  # concurrent requests share encoder passes
    assert "| 16 |" in (out / "results.md").read_text()
