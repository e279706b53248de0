"""Windows, transposition, the held-out split by tune, and the music21 parse on a tune written here."""

import numpy as np
import pytest

from vaekit.data.errors import DataError
from vaekit.music.corpus import melody_from_score, melody_windows, split_tunes
from vaekit.music.events import Melody, MelodyEncoding, Note
from vaekit.music.report import MusicReport

ENC = MelodyEncoding(48, 84)


def _scale_tune(bars=4, downbeat=0, name="t"):
    notes = [Note(60 + (i % 8), downbeat + 4 * i, downbeat + 4 * i + 4) for i in range(4 * bars)]
    return Melody(notes, downbeat + 16 * bars, downbeat, name)


def test_windows_start_on_bar_lines_and_transpose():
    report = MusicReport()
    tokens = melody_windows([_scale_tune(4, downbeat=2)], ENC, bars=2, transpose=(0, 5), report=report)
    assert tokens.shape == (3 * 2, 32)  # windows at bars 0, 1, 2; two shifts each
    assert tokens[0, 0] == 2 + 60 - 48 and tokens[1, 0] == 2 + 65 - 48
    assert report.windows == 6


def test_too_short_tunes_are_counted_and_no_window_is_a_named_error():
    report = MusicReport()
    with pytest.raises(DataError, match="no 16-bar windows"):
        melody_windows([_scale_tune(2)], ENC, bars=16, report=report)
    assert report.short == 1


def test_out_of_range_windows_move_by_octaves_or_are_counted():
    high = Melody([Note(90, 0, 16), Note(91, 16, 32)], 32)
    wide = Melody([Note(30, 0, 16), Note(100, 16, 32)], 32)
    report = MusicReport()
    tokens = melody_windows([high, wide], ENC, bars=2, report=report)
    assert tokens.shape == (1, 32) and tokens[0, 0] == 2 + 78 - 48
    assert report.out_of_range == 1


def test_split_is_by_tune_and_seeded():
    tunes = [_scale_tune(name=str(i)) for i in range(20)]
    train, held = split_tunes(tunes, 0.1, seed=0)
    assert len(held) == 2 and not {t.name for t in train} & {t.name for t in held}
    assert [t.name for t in split_tunes(tunes, 0.1, seed=0)[1]] == [t.name for t in held]


def test_a_music21_score_becomes_a_melody_with_ties_pickup_and_chords():
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nG2 | c2 d2 e2 f2- | f2 [ce]2 g4 |]\n", format="abc")
    report = MusicReport()
    melody = melody_from_score(score, "t", report)
    starts = [(n.pitch, n.start, n.end) for n in melody.notes]
    assert starts[0] == (67, 0, 4) and melody.downbeat == 4  # a quarter-note pickup
    assert (77, 16, 24) in starts  # f2- f2 tied into one half note
    assert (76, 24, 28) in starts and report.polyphonic == 1  # the chord [ce] keeps its top note
    np.testing.assert_array_equal(ENC.encode(melody)[:1], [2 + 67 - 48])


def test_three_four_tunes_are_skipped_with_a_count():
    music21 = pytest.importorskip("music21")
    score = music21.converter.parse("X:1\nT:w\nM:3/4\nL:1/4\nK:C\nc d e | f g a |]\n", format="abc")
    report = MusicReport()
    assert melody_from_score(score, "w", report) is None
    assert report.skipped == {"time signature 3/4": 1}


def test_the_summary_names_the_main_skip_reasons_and_counts_the_rest():
    report = MusicReport()
    for reason, n in [("time signature 3/4", 5), ("time signature 6/8", 4), ("a", 1), ("b", 1), ("c", 1), ("d", 2)]:
        for _ in range(n):
            report.skip(reason)
    summary = report.summary()
    assert summary.startswith("5 tune(s) skipped: time signature 3/4; 4 tune(s) skipped: time signature 6/8")
    assert "2 tune(s) skipped for 2 other reasons" in summary
