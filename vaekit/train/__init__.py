"""The one training loop."""

from vaekit.train.loop import History, fit, optimizer_groups

__all__ = ["History", "fit", "optimizer_groups"]
