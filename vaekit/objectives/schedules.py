"""Weight schedules: callables from the training step to a number (beta, capacity, ...)."""

from __future__ import annotations

import math

from vaekit.registry import register


class Schedule:
    """A step -> weight callable with a stored config (so runs can be saved and resumed)."""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


@register("schedule", "constant")
class Constant(Schedule):
    """The same ``value`` at every step."""

    def __init__(self, value: float = 1.0):
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value


@register("schedule", "linear")
class LinearWarmup(Schedule):
    """Linear from ``start`` to ``end`` over ``steps`` steps (after ``delay`` steps), then ``end``.

    The KL warm-up of Bowman et al. (2016) is ``LinearWarmup(0, 1, steps)``.
    """

    def __init__(self, start: float = 0.0, end: float = 1.0, steps: int = 1000, delay: int = 0):
        if steps <= 0:
            raise ValueError(f"a linear schedule needs steps > 0, got {steps}")  # pragma: no mutate (message text)
        self.start, self.end, self.steps, self.delay = float(start), float(end), int(steps), int(delay)

    def __call__(self, step: int) -> float:
        t = min(max(step - self.delay, 0) / self.steps, 1.0)
        return self.start + t * (self.end - self.start)


@register("schedule", "logistic")
class Logistic(Schedule):
    """The logistic KL weight of Sentence-VAE (Bowman et al. 2016, as in its reference code):
    ``end / (1 + exp(-rate * (step - midpoint)))``, a smooth rise centred on ``midpoint``."""

    def __init__(self, rate: float = 0.0025, midpoint: int = 2500, end: float = 1.0):
        if rate <= 0:
            raise ValueError(f"a logistic schedule needs rate > 0, got {rate}")  # pragma: no mutate (message text)
        self.rate, self.midpoint, self.end = float(rate), int(midpoint), float(end)

    def __call__(self, step: int) -> float:
        t = self.rate * (step - self.midpoint)
        # sigmoid(t) = e^a / (e^a + e^b) with a = min(t, 0) and b = min(-t, 0): both exponents are <= 0, so
        # neither exp overflows, on either side of the midpoint.
        a, b = min(t, 0.0), min(-t, 0.0)
        return self.end * math.exp(a) / (math.exp(a) + math.exp(b))


@register("schedule", "cyclical")
class Cyclical(Schedule):
    """Cyclical annealing (Fu et al. 2019): the training is split into ``cycles`` of
    ``period`` steps; in each the weight rises linearly from ``low`` to ``high`` over the
    first ``ratio`` of the cycle and stays at ``high`` for the rest."""

    def __init__(self, period: int = 1000, ratio: float = 0.5, low: float = 0.0, high: float = 1.0):
        if period <= 0 or not 0 < ratio <= 1:
            raise ValueError("a cyclical schedule needs period > 0, 0 < ratio <= 1")  # pragma: no mutate (message text)
        self.period, self.ratio, self.low, self.high = int(period), float(ratio), float(low), float(high)

    def __call__(self, step: int) -> float:
        phase = (step % self.period) / self.period
        return self.low + min(phase / self.ratio, 1.0) * (self.high - self.low)


@register("schedule", "capacity")
class CapacityIncrease(Schedule):
    """Capacity C for the |KL - C| objective (Burgess et al. 2018): 0 -> ``max_capacity``
    nats linearly over ``steps`` steps, then constant."""

    def __init__(self, max_capacity: float = 25.0, steps: int = 10000):
        if steps <= 0:
            raise ValueError(f"a capacity schedule needs steps > 0, got {steps}")  # pragma: no mutate (message text)
        self.max_capacity, self.steps = float(max_capacity), int(steps)

    def __call__(self, step: int) -> float:
        return self.max_capacity * min(step / self.steps, 1.0)


def as_schedule(value: float | Schedule | dict | None) -> Schedule | None:
    """A number becomes a :class:`Constant`; a config dict is built; schedules pass through."""
    from vaekit.registry import build

    if value is None or isinstance(value, Schedule):
        return value
    if isinstance(value, dict):
        return build("schedule", value)
    return Constant(float(value))
