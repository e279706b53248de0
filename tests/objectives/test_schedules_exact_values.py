"""Weight schedules at chosen steps against values worked out by hand, their documented defaults, and the
boundaries of their argument checks."""

from __future__ import annotations

import math

import pytest

from vaekit.objectives.schedules import CapacityIncrease, Constant, Cyclical, LinearWarmup, Logistic, as_schedule


def test_defaults_are_the_documented_ones():
    assert Constant()(123) == 1.0
    assert LinearWarmup()(500) == pytest.approx(0.5)  # 0 -> 1 over 1000 steps
    assert Logistic()(2500) == pytest.approx(0.5)  # midpoint 2500
    assert Logistic()(2900) == pytest.approx(1 / (1 + math.exp(-1.0)))  # rate 0.0025: t = 1 after 400 steps
    assert Cyclical()(250) == pytest.approx(0.5)  # period 1000, rising over the first half, 0 -> 1
    assert Cyclical()(1250) == pytest.approx(0.5)
    assert CapacityIncrease()(5000) == pytest.approx(12.5)  # 0 -> 25 nats over 10000 steps


def test_linear_warmup_with_delay_and_offset_start():
    # 2 -> 5 over 10 steps after 3 steps of delay.
    s = LinearWarmup(start=2.0, end=5.0, steps=10, delay=3)
    values = [s(step) for step in (0, 3, 8, 13, 40)]
    assert values == pytest.approx([2.0, 2.0, 3.5, 5.0, 5.0])
    # Decreasing schedules work the same way.
    assert LinearWarmup(start=4.0, end=1.0, steps=4)(1) == pytest.approx(3.25)


def test_linear_and_capacity_schedules_accept_one_step_and_reject_zero():
    assert LinearWarmup(steps=1)(0) == 0.0 and LinearWarmup(steps=1)(1) == 1.0
    assert CapacityIncrease(max_capacity=3.0, steps=1)(1) == 3.0
    assert CapacityIncrease(max_capacity=8.0, steps=4)(1) == pytest.approx(2.0)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            LinearWarmup(steps=bad)
        with pytest.raises(ValueError):
            CapacityIncrease(steps=bad)


@pytest.mark.parametrize("t", [-800.0, -3.0, -0.5, 0.0, 0.3, 0.5, 0.9, 2.0, 800.0])
def test_logistic_is_the_sigmoid_on_both_sides_of_the_midpoint(t):
    """end * sigmoid(rate * (step - midpoint)), without overflow far from the midpoint."""
    s = Logistic(rate=0.1, midpoint=50, end=3.0)
    step = 50 + t / 0.1
    expected = 3.0 * (1 / (1 + math.exp(-t)) if t > -700 else 0.0)
    assert s(step) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    with pytest.raises(ValueError):
        Logistic(rate=0.0)


def test_cyclical_rises_from_low_to_high_in_each_cycle():
    s = Cyclical(period=10, ratio=0.5, low=1.0, high=3.0)
    values = [s(step) for step in (0, 2, 5, 7, 10, 12, 19)]
    assert values == pytest.approx([1.0, 1.8, 3.0, 3.0, 1.0, 1.8, 3.0])
    # ratio 1: the whole period rises; a period of one step stays at low.
    assert Cyclical(period=4, ratio=1.0, low=0.5, high=2.5)(3) == pytest.approx(2.0)
    assert Cyclical(period=1, ratio=0.5, low=0.25, high=1.0)(7) == 0.25


@pytest.mark.parametrize(
    "arguments", [{"period": 0}, {"period": -5}, {"ratio": 0.0}, {"ratio": 1.01}, {"ratio": 1.5}, {"ratio": -0.5}]
)
def test_cyclical_rejects_a_bad_period_or_ratio(arguments):
    with pytest.raises(ValueError):
        Cyclical(**arguments)


def test_as_schedule_builds_numbers_and_configs():
    assert as_schedule(None) is None
    assert as_schedule(2)(7) == 2.0
    built = as_schedule({"type": "linear", "start": 1.0, "end": 2.0, "steps": 4})
    assert built(2) == pytest.approx(1.5)
    assert as_schedule(built) is built
