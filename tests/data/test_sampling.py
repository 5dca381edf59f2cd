import collections

import numpy as np
import pytest

from mtl_text.data.sampling import TaskSchedule, task_probabilities

SIZES = {"big": 60000, "mid": 10000, "small": 5000}


def test_proportional():
    p = task_probabilities(SIZES, "proportional")
    assert p == pytest.approx({"big": 60 / 75, "mid": 10 / 75, "small": 5 / 75})


def test_uniform():
    assert task_probabilities(SIZES, "uniform") == pytest.approx({k: 1 / 3 for k in SIZES})


@pytest.mark.parametrize("t", [0.5, 1.0, 2.0, 5.0])
def test_temperature(t):
    w = {k: n ** (1 / t) for k, n in SIZES.items()}
    expected = {k: v / sum(w.values()) for k, v in w.items()}
    assert task_probabilities(SIZES, "temperature", temperature=t) == pytest.approx(expected)


def test_temperature_limits():
    assert task_probabilities(SIZES, "temperature", temperature=1.0) == pytest.approx(task_probabilities(SIZES, "proportional"))
    assert task_probabilities(SIZES, "temperature", temperature=1e6) == pytest.approx(task_probabilities(SIZES, "uniform"), abs=1e-4)


def test_annealed_follows_stickland_and_murray():
    # alpha = 1 - 0.8 (e - 1) / (E - 1): proportional in epoch 1, N^0.2 in the last
    assert task_probabilities(SIZES, "annealed", epoch=1, num_epochs=5) == pytest.approx(task_probabilities(SIZES, "proportional"))
    last = task_probabilities(SIZES, "annealed", epoch=5, num_epochs=5)
    w = {k: n**0.2 for k, n in SIZES.items()}
    assert last == pytest.approx({k: v / sum(w.values()) for k, v in w.items()})
    middle = task_probabilities(SIZES, "annealed", epoch=3, num_epochs=5)  # alpha = 0.6
    w = {k: n**0.6 for k, n in SIZES.items()}
    assert middle == pytest.approx({k: v / sum(w.values()) for k, v in w.items()})
    assert last["small"] > middle["small"] > task_probabilities(SIZES, "proportional")["small"]


@pytest.mark.parametrize("kwargs, match", [
    ({"strategy": "round_robin"}, "unknown sampling strategy"),
    ({"strategy": "temperature", "temperature": 0}, "temperature"),
    ({"strategy": "annealed", "epoch": 4, "num_epochs": 3}, "epoch"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        task_probabilities(SIZES, **kwargs)


def test_empty_task_refused():
    with pytest.raises(ValueError, match="at least one training example"):
        task_probabilities({"a": 10, "b": 0})


def test_schedule_is_a_pure_function_of_seed_and_step():
    a = TaskSchedule(SIZES, seed=3, steps_per_epoch=100)
    b = TaskSchedule(SIZES, seed=3, steps_per_epoch=100)
    c = TaskSchedule(SIZES, seed=4, steps_per_epoch=100)
    seq_a = [a.task_at(s) for s in range(500)]
    assert seq_a == [b.task_at(s) for s in range(500)]
    assert seq_a != [c.task_at(s) for s in range(500)]
    assert [b.task_at(s) for s in range(499, 249, -1)] == seq_a[250:][::-1]  # any order, e.g. after a resume


@pytest.mark.parametrize("strategy", ["proportional", "uniform", "temperature"])
def test_schedule_matches_the_mix(strategy):
    schedule = TaskSchedule(SIZES, seed=0, steps_per_epoch=20000, strategy=strategy, temperature=2.0)
    counts = collections.Counter(schedule.task_at(s) for s in range(20000))
    expected = schedule.probabilities(0)
    for task, p in expected.items():
        assert counts[task] / 20000 == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / 20000))


def test_annealed_schedule_moves_towards_uniform():
    schedule = TaskSchedule(SIZES, seed=0, steps_per_epoch=5000, num_epochs=3, strategy="annealed")
    assert schedule.epoch_of(0) == 1 and schedule.epoch_of(4999) == 1 and schedule.epoch_of(5000) == 2 and schedule.epoch_of(10**6) == 3
    first = collections.Counter(schedule.task_at(s) for s in range(5000))
    last = collections.Counter(schedule.task_at(s) for s in range(10000, 15000))
    assert first["small"] / 5000 == pytest.approx(5 / 75, abs=0.015)
    assert last["small"] / 5000 == pytest.approx(schedule.probabilities(10000)["small"], abs=0.02)
    assert last["small"] > 2 * first["small"]
