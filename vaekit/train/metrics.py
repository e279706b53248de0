"""Per-epoch metrics files (``metrics.jsonl``, ``metrics.csv``) and TensorBoard when it is installed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from vaekit.io import atomic_write_bytes

JSONL_FILE = "metrics.jsonl"
CSV_FILE = "metrics.csv"


class MetricsWriter:
    """Writes every epoch's record to the run folder.

    Both files are rewritten from the whole record list each epoch (atomically), so after a resume
    they hold exactly the epochs of the checkpoint the run continued from, never duplicated rows.

    Args:
        run_dir: the run folder (created if needed).
        tensorboard: also log scalars to ``run_dir/tensorboard`` if the ``tensorboard`` package is installed.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._tensorboard = tensorboard
        self._board: Any = None

    def write(self, records: list[dict[str, Any]]) -> None:
        """Rewrite the files with ``records`` and send the last one to TensorBoard."""
        lines = "".join(json.dumps(r) + "\n" for r in records)
        atomic_write_bytes(self.run_dir / JSONL_FILE, lines.encode())
        columns: list[str] = []
        for record in records:
            columns.extend(k for k in record if k not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        atomic_write_bytes(self.run_dir / CSV_FILE, buffer.getvalue().encode())
        if records:
            self._log_tensorboard(records[-1])

    def _log_tensorboard(self, record: dict[str, Any]) -> None:
        if self._board is None and self._tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional dependency
                self._tensorboard = False
                return
            # purge_step drops events a killed run logged after the checkpoint it resumes from
            self._board = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=int(record["step"]))
        if self._board is not None:
            for key, value in record.items():
                if key not in ("epoch", "step") and isinstance(value, (int, float)):
                    self._board.add_scalar(key, value, int(record["step"]))
            self._board.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self._board is not None:
            self._board.close()
            self._board = None
