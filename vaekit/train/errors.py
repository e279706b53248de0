"""Errors raised by the training loop."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """A loss (or a logged term) became NaN or infinite; the step was skipped and training stopped.

    Attributes:
        epoch: 1-based epoch of the offending step.
        batch: 1-based batch index within that epoch.
        step: 0-based global optimizer step that was skipped.
        terms: names of the values that were not finite.
    """

    def __init__(self, epoch: int, batch: int, step: int, terms: list[str]):
        self.epoch, self.batch, self.step, self.terms = epoch, batch, step, list(terms)
        names = ", ".join(repr(t) for t in self.terms) or "the gradient norm"
        super().__init__(
            f"non-finite value at epoch {epoch}, batch {batch} (global step {step}): {names} became NaN or "
            "infinite; the step was skipped (weights unchanged) and training stopped; the last checkpoint "
            "(if any) is intact. Try a lower learning rate, grad_clip, or check the data for NaN."
        )


class CheckpointError(ValueError):
    """A checkpoint folder is missing, corrupted, from another vaekit format, or from a different run setup."""


class StopTraining(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raise from a callback to end training gracefully after the current epoch."""
