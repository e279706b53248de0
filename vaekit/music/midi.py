"""MIDI files in and out (pretty-midi, which reads and writes through mido).

Reading quantises note onsets and ends to the 16th-note grid by MIDI ticks (so tempo changes do
not move notes off the grid), keeps the top voice of a polyphonic file, and refuses what is not a
MIDI file with a :class:`~vaekit.data.errors.DataError` that names it. Writing makes a one-track
piano file at a fixed tempo with a 4/4 time signature.
"""

from __future__ import annotations

import io
from pathlib import Path

from vaekit.data.errors import DataError
from vaekit.io import atomic_write_bytes
from vaekit.music.events import STEPS_PER_QUARTER, Melody, Note
from vaekit.music.report import MusicReport

MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_TEMPO = 120.0
BINARY_METERS = {(2, 2), (2, 4), (4, 4), (4, 2)}  # bar lengths that tile the 16-step grid from a downbeat


def _pretty_midi():
    try:
        import pretty_midi
    except ImportError:
        raise DataError("MIDI files need the PyPI package pretty_midi: pip install 'vaekit[music]'") from None
    return pretty_midi


def top_voice(notes: list[Note]) -> tuple[list[Note], int]:
    """The highest line of possibly overlapping notes ("skyline"), and how many notes it dropped.

    A note that starts while a higher one sounds is dropped; one that starts above a sounding note
    cuts it short. Notes of zero length are dropped as well.
    """
    kept: list[Note] = []
    dropped = 0
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if note.end <= note.start:
            dropped += 1
            continue
        if kept and note.start < kept[-1].end:
            last = kept[-1]
            if note.pitch <= last.pitch or note.start == last.start:
                dropped += 1
                continue
            kept[-1] = Note(last.pitch, last.start, note.start)
        kept.append(note)
    return kept, dropped


def read_midi(path: str | Path, report: MusicReport | None = None) -> Melody | None:
    """The melody of a MIDI file on the 16th-note grid (None if skipped; the reason counted in ``report``).

    Raises:
        DataError: the file is missing or not a MIDI file.
    """
    report = report if report is not None else MusicReport()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    pretty_midi = _pretty_midi()
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as error:  # mido/pretty_midi raise many types (OSError, EOFError, KeyError...) on bad files
        raise DataError(f"{path} is not a readable MIDI file ({type(error).__name__}: {error})") from None
    report.files += 1
    meters = {(ts.numerator, ts.denominator) for ts in midi.time_signature_changes} or {(4, 4)}
    odd = sorted(f"{a}/{b}" for a, b in meters - BINARY_METERS)
    if odd:
        report.skip(f"time signature {odd[0]}")
        return None
    ticks_per_step = midi.resolution / STEPS_PER_QUARTER
    notes = [
        Note(
            int(n.pitch),
            round(midi.time_to_tick(n.start) / ticks_per_step),
            round(midi.time_to_tick(n.end) / ticks_per_step),
        )
        for instrument in midi.instruments
        if not instrument.is_drum
        for n in instrument.notes
    ]
    notes = [Note(n.pitch, n.start, max(n.end, n.start + 1)) for n in notes]  # a grace note keeps one step
    melody_notes, dropped = top_voice(notes)
    if not melody_notes:
        report.skip("no notes")
        return None
    if dropped:
        report.polyphonic += 1
        report.note(f"{path.name}: polyphonic, kept the top voice ({dropped} of {len(notes)} notes dropped)")
    report.tunes += 1
    return Melody(melody_notes, name=path.stem)


def read_midi_folder(folder: str | Path, report: MusicReport | None = None) -> list[Melody]:
    """Melodies of every .mid/.midi file under ``folder`` (recursively, in name order).

    Raises:
        DataError: the folder is missing, holds no MIDI files, or a file is not MIDI.
    """
    report = report if report is not None else MusicReport()
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of MIDI files")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder} holds no MIDI files (.mid or .midi)")
    melodies = [read_midi(p, report) for p in files]
    return [m for m in melodies if m is not None]


def melody_to_midi_bytes(melody: Melody, tempo: float = DEFAULT_TEMPO, program: int = 0, velocity: int = 90) -> bytes:
    """A standard MIDI file (one track, 4/4) of the melody."""
    pretty_midi = _pretty_midi()
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    instrument = pretty_midi.Instrument(program=program, name=melody.name or "melody")
    seconds = step_seconds(tempo)
    for n in melody.notes:
        instrument.notes.append(pretty_midi.Note(velocity, int(n.pitch), n.start * seconds, n.end * seconds))
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def write_midi(melody: Melody, path: str | Path, tempo: float = DEFAULT_TEMPO) -> Path:
    """Write the melody as a MIDI file (atomically)."""
    path = Path(path)
    atomic_write_bytes(path, melody_to_midi_bytes(melody, tempo))
    return path


def step_seconds(tempo: float = DEFAULT_TEMPO) -> float:
    """Seconds per 16th-note step at ``tempo`` quarter notes per minute."""
    return 60.0 / (tempo * STEPS_PER_QUARTER)
