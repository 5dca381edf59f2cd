"""Two processes (gloo, on the CPU) against one: the same training and the same evaluation. The one-process
references run in the test's own process (a launcher and a fresh interpreter would only add their start-up)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from safetensors.torch import load_file

ACCELERATE = shutil.which("accelerate", path=os.path.dirname(sys.executable))


def launch(repo, script, processes, *args, timeout=600):
    """`accelerate launch` with N gloo processes on the CPU (ACCELERATE_USE_CPU + --multi_gpu: the
    combination that really starts N processes; `--cpu --num_processes 2` runs one)."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    multi = ["--multi_gpu"] if processes > 1 else []
    cmd = [ACCELERATE, "launch", *multi, "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", str(repo / "scripts" / script), *args]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return proc


def train_in_process(*args):
    from mtl_text.cli.train import main as train_main

    assert train_main(list(args)) in (0, None)


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path, data_dir, repo):
    """Same seed, global batch 32 = 1 x 32 = 2 x 16, 30 optimizer steps inside the first epoch of each
    task (640 examples: 20 full batches of 32, 40 of 16), dropout off (its masks are drawn per process): the parameters agree to float tolerance.
    Lazy updates off in both: with two processes every row is updated (sparse gradients are not all-reduced). The linear
    schedule is laid out in optimizer steps (Accelerate steps a prepared scheduler once per process), and every test
    example is counted once across the processes."""
    common = ["--tasks", "trec", "sst2", "--data-dir", str(data_dir), "--max-train-examples", "640", "--max-steps", "30",
              "--eval-every", "30", "--sampling", "uniform", "--embedding-dim", "32", "--w2v-epochs", "1", "--word-dropout", "0",
              "--head-dropout", "0", "--seed", "4", "--patience", "0", "--save-total-limit", "0", "--lazy-updates", "false",
              "--log-every", "15"]
    train_in_process(*common, "--batch-size", "32", "--output-dir", str(tmp_path / "one"))
    two = launch(repo, "train.py", 2, *common, "--batch-size", "16", "--output-dir", str(tmp_path / "two"))
    assert "running on 2 process(es)" in two.stderr.decode()
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, f"largest parameter difference {worst}"
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    lr = {r["step"]: r["lr"] for r in records if r["split"] == "train"}
    assert lr[15] == pytest.approx(0.005) and lr[30] == pytest.approx(0.0)
    test = next(r for r in records if r["split"] == "test")
    assert test["metrics"]["trec"]["examples"] == 500 and test["metrics"]["sst2"]["examples"] == 872


def test_gradient_aggregation_with_two_processes_equals_one(tmp_path, data_dir, repo):
    """Gradient aggregation averages the task-wise Jacobian across processes before aggregating (so
    both ranks aggregate the global batch's gradients): 2 x 16 trains as 1 x 32. (Uncertainty
    weighting needs no test of its own here: it lives inside the model's forward, which DDP sees, as
    test_two_processes_train_like_one_with_the_same_global_batch checks for the rest of the model.)"""
    balancing = ["--sampling", "all", "--task-balancing", "upgrad"]
    common = ["--tasks", "trec", "sst2", "--data-dir", str(data_dir), "--max-train-examples", "640", "--max-steps", "12",
              "--eval-every", "12", "--embedding-dim", "16", "--w2v-epochs", "1", "--word-dropout", "0", "--head-dropout", "0",
              "--seed", "4", "--patience", "0", "--save-total-limit", "0", *balancing]
    train_in_process(*common, "--batch-size", "32", "--output-dir", str(tmp_path / "one"))
    two = launch(repo, "train.py", 2, *common, "--batch-size", "16", "--output-dir", str(tmp_path / "two"))
    assert "lazy updates off (2 processes, --sampling all)" in two.stderr.decode()  # the default gives way, and says so
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, f"largest parameter difference {worst}"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, data_dir):
    from mtl_text.cli.train import main as train_main

    out = tmp_path_factory.mktemp("eval-model")
    train_main(["--tasks", "trec", "sst2", "--data-dir", str(data_dir), "--max-train-examples", "300", "--max-steps", "20",
                "--embedding-dim", "16", "--w2v-epochs", "1", "--seed", "2", "--patience", "0", "--save-total-limit", "0",
                "--output-dir", str(out)])
    return out


def test_evaluation_with_two_processes_equals_one(small_model, data_dir, repo, tmp_path):
    """TREC test has 500 examples, SST-2 872: with batches of 7 per process neither is a multiple of
    the 14 examples per step, so the last batches are padded, and the duplicates must be dropped."""
    from mtl_text.cli.evaluate import main as evaluate_main

    options = ["--model", str(small_model), "--data-dir", str(data_dir), "--batch-size", "7"]
    assert evaluate_main([*options, "--json", str(tmp_path / "1.json")]) in (0, None)
    launch(repo, "evaluate.py", 2, *options, "--json", str(tmp_path / "2.json"))
    results = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in (1, 2)}
    assert results[1]["trec"]["examples"] == results[2]["trec"]["examples"] == 500
    assert results[2]["sst2"]["examples"] == 872
    for task in ("trec", "sst2"):
        for metric in ("accuracy", "macro_f1"):
            assert results[1][task][metric] == results[2][task][metric]
        assert results[1][task]["loss"] == pytest.approx(results[2][task]["loss"], rel=1e-6)
    saved = json.loads((small_model / "test_results.json").read_text())["metrics"]
    assert saved["trec"]["accuracy"] == results[1]["trec"]["accuracy"]


def test_torchrun_on_the_cpu_needs_accelerate_use_cpu(tmp_path, data_dir, repo):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    args = [torchrun, "--nproc_per_node", "2", str(repo / "scripts" / "train.py"), "--tasks", "trec", "--data-dir", str(data_dir),
            "--max-train-examples", "100", "--max-steps", "4", "--embedding-dim", "8", "--w2v-epochs", "1", "--save-total-limit", "0",
            "--output-dir", str(tmp_path / "out")]
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"}
    alone = subprocess.run(args, capture_output=True, timeout=600, env={**env, "OMP_NUM_THREADS": "1"})
    assert alone.returncode != 0 and "but Accelerate sees 1" in alone.stderr.decode()
    together = subprocess.run(args, capture_output=True, timeout=600, env={**env, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"})
    assert together.returncode == 0, together.stderr.decode()[-3000:]
    assert "running on 2 process(es)" in together.stderr.decode()
