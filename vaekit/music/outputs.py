"""What a listener or reader gets: MIDI files, WAV audio and piano-roll PNGs of melodies.

The WAV comes from a small additive synthesizer written here rather than pretty-midi's
``synthesize``: that one stops at the last note's end (plus a release), while a window's audio
should last exactly its bars, trailing rests included, and this needs no soundfont either.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.io import atomic_write_bytes
from vaekit.music.events import Melody
from vaekit.music.midi import DEFAULT_TEMPO, step_seconds, write_midi

SAMPLE_RATE = 22050
HARMONICS = (1.0, 0.5, 0.25, 0.125)  # amplitudes of the partials: a soft, organ-like tone
ATTACK, RELEASE = 0.01, 0.05  # seconds of linear fade in and out of each note (no clicks)


def audio_length(steps: int, tempo: float = DEFAULT_TEMPO, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of ``steps`` 16th-note steps at ``tempo``."""
    return int(round(steps * step_seconds(tempo) * sample_rate))


def synthesize(melody: Melody, tempo: float = DEFAULT_TEMPO, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono audio in [-1, 1] of the melody: (audio_length(melody.steps),) float32."""
    audio = np.zeros(audio_length(melody.steps, tempo, sample_rate), np.float64)
    seconds = step_seconds(tempo)
    for note in melody.notes:
        a = int(round(note.start * seconds * sample_rate))
        b = min(int(round(note.end * seconds * sample_rate)), len(audio))
        if b <= a:
            continue
        t = np.arange(b - a) / sample_rate
        frequency = 440.0 * 2.0 ** ((note.pitch - 69) / 12)
        tone = sum(amp * np.sin(2 * np.pi * k * frequency * t) for k, amp in enumerate(HARMONICS, 1))
        envelope = np.minimum(1.0, np.minimum(t / ATTACK, (t[-1] - t) / RELEASE + 1e-9))
        audio[a:b] += tone * envelope
    peak = np.abs(audio).max()
    return (audio / peak * 0.8 if peak > 0 else audio).astype(np.float32)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono 16-bit PCM (atomically)."""
    path = Path(path)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    atomic_write_bytes(path, buffer.getvalue())
    return path


def save_piano_roll(
    path: str | Path, melodies: Sequence[Melody], titles: Sequence[str] | None = None, steps_per_bar: int = 16
) -> Path:
    """One piano roll per melody (pitch against 16th-note steps, bar lines dashed), stacked in a PNG."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from vaekit.plots import _save

    pitches = [p for m in melodies for p in m.pitches()] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    steps = max((m.steps for m in melodies), default=steps_per_bar)
    figure = Figure(figsize=(max(6, steps / 16 * 1.6), 1.3 * len(melodies) + 0.4))
    axes = figure.subplots(len(melodies), 1, squeeze=False)[:, 0]
    for i, (ax, melody) in enumerate(zip(axes, melodies)):
        for note in melody.notes:
            ax.add_patch(Rectangle((note.start, note.pitch - 0.4), note.end - note.start, 0.8, color="tab:blue"))
        for bar in range(0, steps + 1, steps_per_bar):
            ax.axvline(bar, color="grey", lw=0.6, ls="--")
        ax.set_xlim(0, steps)
        ax.set_ylim(low, high)
        ax.set_ylabel("pitch", fontsize=7)
        ax.tick_params(labelsize=7)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8, loc="left")
    axes[-1].set_xlabel("16th-note step")
    figure.tight_layout()
    return _save(figure, path)


def write_melodies(
    out: str | Path,
    melodies: Sequence[Melody],
    stem: str,
    titles: Sequence[str] | None = None,
    tempo: float = DEFAULT_TEMPO,
    wav: bool = True,
    steps_per_bar: int = 16,
) -> list[Path]:
    """``out/{stem}_{i}.mid`` (and ``.wav``) per melody and one piano roll ``out/{stem}.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, melody in enumerate(melodies):
        paths.append(write_midi(melody, out / f"{stem}_{i}.mid", tempo))
        if wav:
            paths.append(write_wav(out / f"{stem}_{i}.wav", synthesize(melody, tempo)))
    paths.append(save_piano_roll(out / f"{stem}.png", melodies, titles, steps_per_bar))
    return paths


def write_reconstructions(
    out: str | Path,
    originals: Sequence[Melody],
    reconstructions: Sequence[Melody],
    tempo: float = DEFAULT_TEMPO,
    steps_per_bar: int = 16,
) -> list[Path]:
    """``out/original_{i}.mid`` and ``out/reconstruction_{i}.mid`` per pair, and one piano roll
    ``out/reconstruction.png`` with each original above its reconstruction (MIDI only: no WAV)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (original, reconstruction) in enumerate(zip(originals, reconstructions, strict=True)):
        paths.append(write_midi(original, out / f"original_{i}.mid", tempo))
        paths.append(write_midi(reconstruction, out / f"reconstruction_{i}.mid", tempo))
    pairs = [m for pair in zip(originals, reconstructions) for m in pair]
    titles = [t for i in range(len(originals)) for t in (f"original {i}", f"reconstruction {i}")]
    paths.append(save_piano_roll(out / "reconstruction.png", pairs, titles, steps_per_bar))
    return paths
