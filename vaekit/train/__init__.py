"""The one training loop, its callbacks, checkpoints, metrics files and data-parallel support."""

from vaekit.train.callbacks import Callback, EarlyStopping, MetricsLogger, ProgressBar
from vaekit.train.checkpoint import read_checkpoint, write_checkpoint
from vaekit.train.device import resolve_device
from vaekit.train.distributed import shutdown
from vaekit.train.errors import CheckpointError, NonFiniteLossError, StopTraining
from vaekit.train.history import History
from vaekit.train.loop import fit
from vaekit.train.optim import lr_at, optimizer_groups, register_lr_schedule
from vaekit.train.state import TrainState

__all__ = [
    "Callback",
    "CheckpointError",
    "EarlyStopping",
    "History",
    "MetricsLogger",
    "NonFiniteLossError",
    "ProgressBar",
    "StopTraining",
    "TrainState",
    "fit",
    "lr_at",
    "optimizer_groups",
    "read_checkpoint",
    "register_lr_schedule",
    "resolve_device",
    "shutdown",
    "write_checkpoint",
]
