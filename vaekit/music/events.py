"""Melodies as MusicVAE's event tokens, one per 16th-note step.

A :class:`Melody` is a list of notes (pitch, start step, end step) on a 16th-note grid. Its event
sequence has one token per step (Roberts et al. 2018): ``NOTE_OFF`` ends the sounding note,
``HOLD`` ("no event") keeps whatever is happening (a note sounding on, or a rest), and one
note-on token per pitch starts a note (ending the one before). These tokens are what the shared
sequence VAE (:mod:`vaekit.models.sequence_vae`) reads and writes; no padding, no end token: every
window has the same number of steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

NOTE_OFF, HOLD = 0, 1
FIRST_PITCH_TOKEN = 2
STEPS_PER_QUARTER = 4  # 16th-note quantisation


@dataclass(frozen=True)
class Note:
    """One note on the step grid: MIDI ``pitch`` sounding over steps [start, end)."""

    pitch: int
    start: int
    end: int


@dataclass
class Melody:
    """A monophonic melody on the 16th-note grid.

    Attributes:
        notes: notes in time order, not overlapping.
        steps: length in steps (at least the end of the last note).
        downbeat: step of the first bar line (a pickup sits before it).
        name: where it came from.
    """

    notes: list[Note] = field(default_factory=list)
    steps: int = 0
    downbeat: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        self.steps = max(int(self.steps), max((n.end for n in self.notes), default=0))

    def pitches(self) -> list[int]:
        """The pitch of every note."""
        return [n.pitch for n in self.notes]

    def transposed(self, semitones: int) -> Melody:
        """The melody moved by ``semitones``."""
        moved = [Note(n.pitch + semitones, n.start, n.end) for n in self.notes]
        return Melody(moved, self.steps, self.downbeat, self.name)

    def window(self, start: int, length: int) -> Melody:
        """Steps [start, start + length), re-based to 0; notes crossing the edges are cut."""
        stop = start + length
        kept = [
            Note(n.pitch, max(n.start, start) - start, min(n.end, stop) - start)
            for n in self.notes
            if n.end > start and n.start < stop and n.start >= start  # a note begun before the window is dropped
        ]
        return Melody(kept, length, 0, self.name)


@dataclass(frozen=True)
class MelodyEncoding:
    """The token vocabulary: note-off, hold, and a note-on per pitch in [min_pitch, max_pitch].

    Args:
        min_pitch: lowest MIDI pitch with a note-on token.
        max_pitch: highest MIDI pitch with a note-on token.
        steps_per_bar: steps in one bar (16: a 4/4 bar of 16th notes).
    """

    min_pitch: int = 48
    max_pitch: int = 84
    steps_per_bar: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.min_pitch <= self.max_pitch <= 127:
            raise ValueError(f"need 0 <= min_pitch <= max_pitch <= 127, got {self.min_pitch}..{self.max_pitch}")
        if self.steps_per_bar < 1:
            raise ValueError(f"steps_per_bar must be at least 1, got {self.steps_per_bar}")

    @property
    def vocab_size(self) -> int:
        """Number of event tokens."""
        return FIRST_PITCH_TOKEN + self.max_pitch - self.min_pitch + 1

    def fits(self, melody: Melody) -> bool:
        """Whether every pitch has a note-on token."""
        return all(self.min_pitch <= p <= self.max_pitch for p in melody.pitches())

    def encode(self, melody: Melody, steps: int | None = None) -> np.ndarray:
        """Event tokens (steps,) of a melody (its own length when ``steps`` is None).

        Raises:
            ValueError: a pitch outside [min_pitch, max_pitch], or overlapping notes.
        """
        steps = melody.steps if steps is None else int(steps)
        tokens = np.full(steps, HOLD, dtype=np.int64)
        last_end = 0
        for note in melody.notes:
            if not self.min_pitch <= note.pitch <= self.max_pitch:
                raise ValueError(f"pitch {note.pitch} is outside this encoding's {self.min_pitch}..{self.max_pitch}")
            if note.start < last_end:
                raise ValueError(f"notes overlap at step {note.start}: a melody is one voice")
            if note.start >= steps:
                break
            tokens[note.start] = FIRST_PITCH_TOKEN + note.pitch - self.min_pitch
            last_end = note.end
            if note.end < steps:
                tokens[note.end] = NOTE_OFF  # the next note-on, if it starts here, overwrites it
        return tokens

    def decode(self, tokens: Iterable[int], name: str = "") -> Melody:
        """The melody of an event sequence (a note lasts until the next note-on or note-off)."""
        tokens = [int(t) for t in tokens]
        notes: list[Note] = []
        pitch, start = None, 0
        for step, token in enumerate(tokens):
            if token == HOLD:
                continue
            if pitch is not None:
                notes.append(Note(pitch, start, step))
                pitch = None
            if token >= FIRST_PITCH_TOKEN:
                pitch, start = self.min_pitch + token - FIRST_PITCH_TOKEN, step
        if pitch is not None:
            notes.append(Note(pitch, start, len(tokens)))
        return Melody(notes, len(tokens), 0, name)

    def token_names(self) -> list[str]:
        """A readable name per token id."""
        return ["off", "hold", *(f"on{p}" for p in range(self.min_pitch, self.max_pitch + 1))]

    def config(self) -> dict[str, int]:
        """A JSON-able mapping that rebuilds this encoding."""
        return {"min_pitch": self.min_pitch, "max_pitch": self.max_pitch, "steps_per_bar": self.steps_per_bar}


def is_note_on(tokens: np.ndarray) -> np.ndarray:
    """Mask of note-on tokens."""
    return np.asarray(tokens) >= FIRST_PITCH_TOKEN


def melodies_to_tokens(encoding: MelodyEncoding, melodies: Sequence[Melody], steps: int) -> np.ndarray:
    """Stack the event tokens of melodies (each cut or padded with rests to ``steps``): (N, steps)."""
    return np.stack([encoding.encode(m, steps) for m in melodies]) if melodies else np.zeros((0, steps), np.int64)
