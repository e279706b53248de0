"""What a training run produced, epoch by epoch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class History:
    """Per-epoch metrics of a run and its outcome.

    Attributes:
        train: one dict per epoch: example-weighted means of every logged term on the training data.
        validation: one dict per epoch with the same terms on the validation data (empty without it).
        records: one row per epoch as written to ``metrics.jsonl``: ``epoch`` (1-based), ``step``,
            ``seconds``, ``samples_per_second``, ``lr``, ``train_*`` and ``val_*`` keys.
        best_epoch: 1-based epoch with the lowest validation loss (None without validation data).
        best_val_loss: that loss.
        stopped_early: whether early stopping (patience) or a callback ended the run before ``epochs``.
        steps: optimizer steps taken in total (over resumes too).
        stop_reason: why the run ended before ``epochs``: "patience", "callback", "max_steps", "max_seconds",
            or None.
        skipped_updates: steps whose update was skipped for an outlier gradient norm, in total.
    """

    train: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False
    steps: int = 0
    stop_reason: str | None = None
    skipped_updates: int = 0

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            train=[dict(d) for d in data["train"]],
            validation=[dict(d) for d in data["validation"]],
            records=[dict(d) for d in data["records"]],
            best_epoch=data["best_epoch"],
            best_val_loss=data["best_val_loss"],
            stopped_early=bool(data["stopped_early"]),
            steps=int(data["steps"]),
            stop_reason=data.get("stop_reason"),
            skipped_updates=int(data.get("skipped_updates", 0)),
        )
