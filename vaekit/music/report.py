"""What happened to the tunes of a source: counts shown to the user and kept in run metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_NOTES = 20  # individual notes kept (the counts are always complete)
SHOWN_REASONS = 4  # skip reasons named in the one-line summary (all are in as_dict)


@dataclass
class MusicReport:
    """Counts of tunes read, skipped (by reason), made monophonic, and windows kept or left out.

    Attributes:
        files: files (or corpus tunes) read.
        tunes: tunes turned into melodies.
        skipped: tunes skipped, by reason (e.g. ``time signature 3/4``).
        polyphonic: tunes reduced to their top voice.
        windows: windows kept.
        short: tunes shorter than one window.
        out_of_range: windows with a pitch the encoding has no token for (even an octave away).
        sparse: windows with fewer notes than bars.
        notes: a few readable notes (which file was reduced, ...).
    """

    files: int = 0
    tunes: int = 0
    skipped: Counter = field(default_factory=Counter)
    polyphonic: int = 0
    windows: int = 0
    short: int = 0
    out_of_range: int = 0
    sparse: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        """Count one tune skipped for ``reason``."""
        self.skipped[reason] += 1

    def note(self, text: str) -> None:
        """Keep a readable note (the first few only)."""
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def summary(self) -> str:
        """One line naming everything that was not used as given (empty if nothing)."""
        ranked = sorted(self.skipped.items(), key=lambda item: (-item[1], item[0]))
        parts = [f"{n} tune(s) skipped: {reason}" for reason, n in ranked[:SHOWN_REASONS]]
        if len(ranked) > SHOWN_REASONS:
            rest = ranked[SHOWN_REASONS:]
            parts.append(f"{sum(n for _, n in rest)} tune(s) skipped for {len(rest)} other reasons")
        if self.polyphonic:
            parts.append(f"{self.polyphonic} polyphonic tune(s) reduced to the top voice")
        if self.short:
            parts.append(f"{self.short} tune(s) shorter than one window")
        if self.out_of_range:
            parts.append(f"{self.out_of_range} window(s) out of the pitch range")
        if self.sparse:
            parts.append(f"{self.sparse} window(s) with fewer notes than bars left out")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The counts as a JSON-able mapping."""
        return {
            "files": self.files,
            "tunes": self.tunes,
            "skipped": dict(self.skipped),
            "polyphonic": self.polyphonic,
            "windows": self.windows,
            "short": self.short,
            "out_of_range": self.out_of_range,
            "sparse": self.sparse,
        }

    def merge(self, counts: dict[str, Any]) -> None:
        """Add counts saved by :meth:`as_dict` (a cached corpus's)."""
        for key in ("files", "tunes", "polyphonic", "windows", "short", "out_of_range", "sparse"):
            setattr(self, key, getattr(self, key) + int(counts.get(key, 0)))
        self.skipped.update(counts.get("skipped", {}))
