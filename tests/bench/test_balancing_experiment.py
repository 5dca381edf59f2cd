"""The task-balancing experiment's plan: gradient modes are compared with static weights at their own task mix."""

import pytest

from mtl_text.bench.balancing import SAMPLING_CONTROL, BalancingArguments, baseline_of, conditions_of
from mtl_text.errors import ConfigError


def test_gradient_modes_bring_the_sampling_control():
    conditions = conditions_of(["static", "uncertainty", "pcgrad", "upgrad"])
    assert list(conditions) == ["static", "uncertainty", "pcgrad", "upgrad", SAMPLING_CONTROL]
    assert conditions["pcgrad"] == ["--task-balancing", "pcgrad", "--sampling", "all"]
    assert conditions[SAMPLING_CONTROL] == ["--task-balancing", "static", "--sampling", "all"]
    assert conditions["uncertainty"] == ["--task-balancing", "uncertainty"]
    assert [baseline_of(m) for m in conditions] == ["static", "static", SAMPLING_CONTROL, SAMPLING_CONTROL, "static"]


def test_no_control_without_a_gradient_mode():
    assert list(conditions_of(["static", "uncertainty"])) == ["static", "uncertainty"]


def test_static_is_required():
    with pytest.raises(ConfigError, match="static included"):
        BalancingArguments(modes=["pcgrad"])
