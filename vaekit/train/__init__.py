"""The one training loop, its checkpoints, metrics files and data-parallel support."""

from vaekit.train.checkpoint import read_checkpoint, write_checkpoint
from vaekit.train.device import resolve_device
from vaekit.train.errors import CheckpointError, NonFiniteLossError, StopTraining
from vaekit.train.history import History
from vaekit.train.loop import fit
from vaekit.train.optim import lr_at, optimizer_groups

__all__ = [
    "CheckpointError",
    "History",
    "NonFiniteLossError",
    "StopTraining",
    "fit",
    "lr_at",
    "optimizer_groups",
    "read_checkpoint",
    "resolve_device",
    "write_checkpoint",
]
