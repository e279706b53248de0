"""Melody events: melody -> events -> MIDI -> events round trips; MIDI parses with mido; bad input."""

import mido
import numpy as np
import pytest

from vaekit.data.errors import DataError
from vaekit.music.events import HOLD, NOTE_OFF, Melody, MelodyEncoding, Note
from vaekit.music.midi import read_midi, read_midi_folder, top_voice, write_midi
from vaekit.music.report import MusicReport

ENC = MelodyEncoding(min_pitch=48, max_pitch=84)
TUNE = Melody([Note(60, 0, 4), Note(62, 4, 6), Note(64, 8, 9), Note(64, 9, 16), Note(72, 20, 31)], 32)


def test_encoding_follows_musicvae_events():
    tokens = ENC.encode(TUNE)
    assert tokens.shape == (32,)
    assert tokens[0] == 2 + 60 - 48 and list(tokens[1:4]) == [HOLD] * 3  # note-on, then holds
    assert tokens[4] == 2 + 62 - 48 and tokens[6] == NOTE_OFF  # a rest after the note starts with note-off
    assert tokens[9] == 2 + 64 - 48  # a repeated note is a second note-on
    assert tokens[31] == NOTE_OFF and ENC.vocab_size == 2 + 37


def test_events_round_trip_through_midi(tmp_path):
    events = ENC.encode(TUNE)
    again = ENC.decode(events)
    assert again.notes == TUNE.notes
    path = write_midi(again, tmp_path / "tune.mid")
    read = read_midi(path)
    np.testing.assert_array_equal(ENC.encode(read, 32), events)


def test_written_midi_parses_with_mido(tmp_path):
    path = write_midi(TUNE, tmp_path / "tune.mid")
    midi = mido.MidiFile(str(path))
    ons = [m for track in midi.tracks for m in track if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in ons] == [60, 62, 64, 64, 72]
    assert any(m.type == "time_signature" and (m.numerator, m.denominator) == (4, 4) for t in midi.tracks for m in t)


def test_polyphonic_midi_keeps_the_top_voice(tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(0)
    for pitch, start, end in [(60, 0, 1), (67, 0, 1), (64, 0.5, 1.0), (72, 1.0, 2.0)]:
        piano.notes.append(pretty_midi.Note(80, pitch, start, end))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "chords.mid"))
    report = MusicReport()
    melody = read_midi(tmp_path / "chords.mid", report)
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [(67, 0, 8), (72, 8, 16)]
    assert report.polyphonic == 1 and "top voice" in report.summary()


def test_top_voice_cuts_a_lower_note_when_a_higher_one_enters():
    kept, dropped = top_voice([Note(60, 0, 8), Note(65, 4, 6), Note(55, 5, 7)])
    assert kept == [Note(60, 0, 4), Note(65, 4, 6)] and dropped == 1


def test_not_midi_and_empty_folders_are_named_errors(tmp_path):
    (tmp_path / "bad.mid").write_text("not a midi file")
    with pytest.raises(DataError, match="bad.mid is not a readable MIDI file"):
        read_midi(tmp_path / "bad.mid")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no MIDI files"):
        read_midi_folder(tmp_path / "empty")


def test_odd_time_signatures_are_skipped_and_counted(tmp_path):
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    midi.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0))
    piano = pretty_midi.Instrument(0)
    piano.notes.append(pretty_midi.Note(80, 60, 0, 1))
    midi.instruments.append(piano)
    midi.write(str(tmp_path / "waltz.mid"))
    report = MusicReport()
    assert read_midi(tmp_path / "waltz.mid", report) is None
    assert report.skipped == {"time signature 3/4": 1}


def test_out_of_range_pitch_and_overlap_are_refused():
    with pytest.raises(ValueError, match="outside"):
        ENC.encode(Melody([Note(30, 0, 2)]))
    with pytest.raises(ValueError, match="overlap"):
        ENC.encode(Melody([Note(60, 0, 4), Note(62, 2, 5)]))
