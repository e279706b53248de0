"""A tqdm progress bar for one epoch whose live metrics cost at most one host sync every half second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm.auto import tqdm

REFRESH_SECONDS = 0.5
SHOWN_TERMS = ("loss", "reconstruction", "kl")


class EpochProgress:
    """Progress over the batches of one epoch with running loss, reconstruction and KL.

    Args:
        total: batches in the epoch.
        description: e.g. ``"epoch 3/10"``.
        enabled: False turns it off; True shows it when standard error is a terminal.
    """

    def __init__(self, total: int, description: str, enabled: bool):
        disable = not (enabled and _is_terminal())
        self._bar = tqdm(total=total, desc=description, disable=disable, leave=False, dynamic_ncols=True)
        self._last = time.monotonic()
        self._done = 0

    @property
    def active(self) -> bool:
        """Whether anything is drawn."""
        return not self._bar.disable

    def step(self, means: Callable[[], dict[str, float]]) -> None:
        """One batch done; ``means`` (which syncs) is called only when the display is refreshed."""
        self._done += 1
        if self._bar.disable:
            return
        now = time.monotonic()
        if now - self._last >= REFRESH_SECONDS:
            values = means()
            shown = {k: f"{values[k]:.4g}" for k in SHOWN_TERMS if k in values}
            self._bar.update(self._done - self._bar.n)
            self._bar.set_postfix(shown)  # redraws (at most every REFRESH_SECONDS)
            self._last = now

    def step_to(self, done: int) -> None:
        """Start from ``done`` batches (an epoch resumed in the middle)."""
        self._done = done
        if not self._bar.disable:
            self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()


def _is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())
