"""Melody data: the folk tunes inside music21's corpus (parsed once and cached), user MIDI folders,
fixed-length windows of event tokens, transposition augmentation, and a held-out split by tune.

Parsing the ABC files of the music21 corpus takes minutes, so :func:`load_folk_tunes` keeps the
parsed melodies (notes on the 16th-note grid, not tokens: any pitch range can be encoded later)
in an ``.npz`` under a cache folder: ``$VAEKIT_CACHE`` or ``~/.cache/vaekit``, or ``cache_dir``.
Tunes whose time signature does not tile the 16-step bar from a downbeat (3/4, 6/8, ...) are
skipped and counted by signature.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.data.errors import DataError
from vaekit.io import atomic_write_bytes
from vaekit.music.events import STEPS_PER_QUARTER, Melody, MelodyEncoding, Note
from vaekit.music.midi import BINARY_METERS, read_midi_folder, top_voice
from vaekit.music.report import MusicReport

# Monophonic folk collections of music21's corpus (Bach chorales are four-part and not melodies).
FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk")
CACHE_VERSION = 1


def cache_folder(cache_dir: str | Path | None = None) -> Path:
    """Where parsed corpora are kept: ``cache_dir``, else ``$VAEKIT_CACHE``, else ``~/.cache/vaekit``."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("VAEKIT_CACHE") or Path.home() / ".cache" / "vaekit")


def _music21():
    try:
        import music21
    except ImportError:
        raise DataError("the folk-tune corpus needs the PyPI package music21: pip install 'vaekit[music]'") from None
    return music21


def melody_from_score(score, name: str, report: MusicReport) -> Melody | None:
    """The melody of a music21 score (its first part) on the 16th-note grid, or None (counted) if skipped."""
    report.files += 1
    meters = {(ts.numerator, ts.denominator) for ts in score.recurse().getElementsByClass("TimeSignature")}
    odd = sorted(f"{a}/{b}" for a, b in (meters or {(4, 4)}) - BINARY_METERS)
    if odd:
        report.skip(f"time signature {odd[0]}")
        return None
    part = score.parts[0] if getattr(score, "parts", None) else score
    measures = part.getElementsByClass("Measure")
    downbeat = 0.0
    if len(measures) > 1 and measures[0].duration.quarterLength < measures[0].barDuration.quarterLength:
        downbeat = float(measures[1].offset)  # the first bar is a pickup
    notes: list[Note] = []
    chords = 0
    for element in part.flatten().notes:
        length = float(element.quarterLength)
        if length <= 0:  # grace notes
            continue
        if element.isChord:
            chords += 1
            pitch = max(p.midi for p in element.pitches)
        else:
            pitch = element.pitch.midi
        start = round(float(element.offset) * STEPS_PER_QUARTER)
        end = max(round((float(element.offset) + length) * STEPS_PER_QUARTER), start + 1)
        tie = getattr(element, "tie", None)
        if tie is not None and tie.type in ("stop", "continue") and notes and notes[-1].pitch == pitch:
            notes[-1] = Note(pitch, notes[-1].start, end)  # a tied continuation lengthens the note
            continue
        notes.append(Note(int(pitch), start, end))
    melody_notes, dropped = top_voice(notes)
    if not melody_notes:
        report.skip("no notes")
        return None
    if chords or dropped:
        report.polyphonic += 1
    report.tunes += 1
    return Melody(melody_notes, downbeat=round(downbeat * STEPS_PER_QUARTER), name=name)


def _save_melodies(path: Path, melodies: Sequence[Melody], report: MusicReport) -> None:
    notes = [n for m in melodies for n in m.notes]
    arrays = {
        "pitch": np.array([n.pitch for n in notes], np.int16),
        "start": np.array([n.start for n in notes], np.int32),
        "end": np.array([n.end for n in notes], np.int32),
        "counts": np.array([len(m.notes) for m in melodies], np.int32),
        "steps": np.array([m.steps for m in melodies], np.int32),
        "downbeat": np.array([m.downbeat for m in melodies], np.int32),
        "names": np.array([m.name for m in melodies], dtype=str),
        "report": np.array(json.dumps(report.as_dict())),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load_melodies(path: Path, report: MusicReport) -> list[Melody]:
    with np.load(path, allow_pickle=False) as data:
        pitch, start, end = data["pitch"], data["start"], data["end"]
        bounds = np.concatenate([[0], np.cumsum(data["counts"])])
        melodies = [
            Melody(
                [Note(int(p), int(s), int(e)) for p, s, e in zip(pitch[a:b], start[a:b], end[a:b])],
                int(steps),
                int(down),
                str(name),
            )
            for a, b, steps, down, name in zip(bounds[:-1], bounds[1:], data["steps"], data["downbeat"], data["names"])
        ]
        report.merge(json.loads(str(data["report"])))
    return melodies


def parse_folk_collection(collection: str, report: MusicReport) -> list[Melody]:
    """Parse every ABC file of one music21 corpus collection (slow: minutes for the Essen songs)."""
    music21 = _music21()
    paths = [p for p in music21.corpus.getPaths(fileExtensions=["abc"]) if f"/{collection}/" in str(p)]
    if not paths:
        raise DataError(f"music21's corpus has no ABC collection {collection!r}; folk collections: {FOLK_COLLECTIONS}")
    melodies = []
    for path in sorted(paths, key=str):
        try:
            parsed = music21.converter.parse(path)
        except Exception as error:  # the ABC parser raises many types on the odd malformed tune
            report.skip(f"unparsable file ({type(error).__name__})")
            continue
        scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
        for i, score in enumerate(scores):
            melody = melody_from_score(score, f"{collection}/{Path(path).stem}/{i}", report)
            if melody is not None:
                melodies.append(melody)
    return melodies


def load_folk_tunes(
    collections: Sequence[str] = FOLK_COLLECTIONS,
    cache_dir: str | Path | None = None,
    report: MusicReport | None = None,
    log=None,
) -> list[Melody]:
    """The folk tunes of music21's corpus as melodies, from the cache when it holds them.

    Args:
        collections: corpus collections to read (each cached in its own file).
        cache_dir: cache folder (see :func:`cache_folder`).
        report: counts of what was skipped (the cached counts are added).
        log: called with a line before a slow parse.
    """
    report = report if report is not None else MusicReport()
    melodies: list[Melody] = []
    for collection in collections:
        path = cache_folder(cache_dir) / f"music21-{collection}-v{CACHE_VERSION}.npz"
        if path.is_file():
            melodies += _load_melodies(path, report)
            continue
        if log is not None:
            log(f"parsing music21's {collection} collection once (minutes); cache: {path}")
        own = MusicReport()
        parsed = parse_folk_collection(collection, own)
        _save_melodies(path, parsed, own)
        report.merge(own.as_dict())
        melodies += parsed
    return melodies


def load_melodies(
    name: str = "folk", path: str | Path | None = None, cache_dir: str | Path | None = None, report=None, log=None
) -> list[Melody]:
    """Melodies of a built-in corpus (``folk``, or one music21 collection by name) or a MIDI folder.

    Raises:
        DataError: unknown corpus, empty folder, a file that is not MIDI, or no usable tune.
    """
    report = report if report is not None else MusicReport()
    if path is not None:
        melodies = read_midi_folder(path, report)
        source = str(path)
    elif name == "folk":
        melodies, source = load_folk_tunes(FOLK_COLLECTIONS, cache_dir, report, log), "folk"
    elif name in FOLK_COLLECTIONS:
        melodies, source = load_folk_tunes([name], cache_dir, report, log), name
    else:
        raise DataError(f"unknown music dataset {name!r}; built-in: ['folk', *{list(FOLK_COLLECTIONS)}] (or a folder)")
    if not melodies:
        raise DataError(f"{source} has no usable melodies ({report.summary() or 'nothing read'})")
    return melodies


def split_tunes(melodies: Sequence[Melody], held_out: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """Train and held-out tunes (not windows, so no tune is in both): a seeded ``held_out`` fraction."""
    if not 0 <= held_out < 1:
        raise DataError(f"the held-out fraction must lie in [0, 1), got {held_out}")
    order = np.random.default_rng(seed).permutation(len(melodies))
    n_out = int(round(len(melodies) * held_out))
    if len(melodies) - n_out < 1:
        raise DataError(f"only {len(melodies)} tune(s): too few to hold out {held_out:.0%}")
    return [melodies[i] for i in order[n_out:]], [melodies[i] for i in order[:n_out]]


def fit_range(melody: Melody, encoding: MelodyEncoding) -> Melody | None:
    """The melody, or the melody an octave or two away, that the encoding can spell; None if none."""
    for shift in (0, 12, -12, 24, -24):
        moved = melody.transposed(shift) if shift else melody
        if encoding.fits(moved):
            return moved
    return None


def melody_windows(
    melodies: Sequence[Melody],
    encoding: MelodyEncoding,
    bars: int,
    hop_bars: int = 1,
    transpose: Sequence[int] = (0,),
    report: MusicReport | None = None,
) -> np.ndarray:
    """Event tokens of every ``bars``-bar window starting on a bar line: (N, bars * steps_per_bar).

    Windows start at each tune's downbeat and every ``hop_bars`` bars after it. Each window is
    encoded once per shift in ``transpose`` (semitones) that keeps it in range; windows with fewer
    note onsets than bars (mostly rests) are left out and counted.

    Raises:
        DataError: no window at all (every tune shorter than one window, say).
    """
    report = report if report is not None else MusicReport()
    bar, length = encoding.steps_per_bar, bars * encoding.steps_per_bar
    rows = []
    for melody in melodies:
        starts = range(melody.downbeat, melody.steps - length + 1, hop_bars * bar)
        if not starts:
            report.short += 1
            continue
        for start in starts:
            window = melody.window(start, length)
            if len(window.notes) < bars:
                report.sparse += 1
                continue
            window = fit_range(window, encoding)
            if window is None:
                report.out_of_range += 1
                continue
            for shift in transpose:
                moved = window.transposed(int(shift))
                if encoding.fits(moved):
                    rows.append(encoding.encode(moved, length))
    if not rows:
        raise DataError(f"no {bars}-bar windows in {len(melodies)} tune(s) ({report.summary() or 'nothing usable'})")
    report.windows += len(rows)
    return np.stack(rows)
