"""The music commands end to end on a small MIDI folder the test writes: train (flat and hierarchical),
sample, interpolate, reconstruct, evaluate; audio length; bad input."""

from __future__ import annotations

import json
import wave

import mido
import numpy as np
import pytest
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.music.events import Melody, Note
from vaekit.music.midi import write_midi
from vaekit.music.outputs import SAMPLE_RATE, audio_length, synthesize, write_wav

runner = CliRunner()
SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _tune(seed: int, bars: int = 4) -> Melody:
    rng = np.random.default_rng(seed)
    notes, step = [], 0
    while step < 16 * bars:
        length = int(rng.choice([2, 4, 4, 8]))
        notes.append(Note(int(rng.choice(SCALE)), step, min(step + length, 16 * bars)))
        step += length
    return Melody(notes, 16 * bars, name=f"tune{seed}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    data = root / "midi"
    data.mkdir()
    for i in range(12):
        write_midi(_tune(i), data / f"tune{i}.mid")
    write_midi(_tune(99, bars=1), data / "short.mid")  # shorter than a 2-bar window: counted
    return root


def _train(folder, name, *options):
    out = folder / name
    result = invoke(
        "train", "--set", f"data.path={folder / 'midi'}", "--set", "data.transpose=1", "--set", "train.epochs=2",
        "--set", "model.hidden=16", "--set", "model.embed_dim=8", "--set", "model.latent_dim=4",
        "--set", "evaluate.k=2", "--set", "objective.free_bits=0.1", *options, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def run(folder):
    return _train(folder, "flat")


def test_train_writes_a_music_run(run):
    out, output = run
    assert "1 tune(s) shorter than one window" in output and "per-step accuracy, free-running" in output
    assert "k=2 importance samples each), then sampling and writing melodies..." in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["accuracy_free_running"] <= 1 and metrics["data_report"]["short"] == 1
    assert set(metrics["statistics_samples"]) == {"pitch_range", "note_density", "repeated_note_rate", "in_key_rate"}
    assert metrics["statistics_data"]["in_key_rate"]["mean"] == 1.0  # every tune is on the C major scale
    for name in ("sample_0.mid", "sample_0.wav", "sample.png", "reconstruction.png", "interpolation_6.mid"):
        assert (out / "melodies" / name).is_file(), name
    originals = sorted((out / "melodies").glob("original_*.mid"))
    reconstructions = sorted((out / "melodies").glob("reconstruction_*.mid"))
    assert 1 <= len(originals) == len(reconstructions) <= 4  # pairs, not originals named as reconstructions


@pytest.mark.slow
def test_hierarchical_run_trains_through_the_same_path(folder):
    out, _ = _train(folder, "hier", "--set", "model.decoder={type: hierarchical, conductor_hidden: 8}")
    config = (out / "config.yaml").read_text()
    assert "hierarchical" in config


def test_sample_and_interpolate_write_midi_wav_and_piano_rolls(run, folder, tmp_path):
    out, _ = run
    result = invoke("sample", out, "--n", "3", "--out", tmp_path / "melodies")
    assert result.exit_code == 0, result.output
    midi = mido.MidiFile(str(tmp_path / "melodies" / "sample_2.mid"))
    assert midi.length > 0 or not any(m.type == "note_on" for t in midi.tracks for m in t)
    with wave.open(str(tmp_path / "melodies" / "sample_0.wav")) as audio:
        assert audio.getnframes() == audio_length(32) and audio.getframerate() == SAMPLE_RATE
    a, b = folder / "midi" / "tune0.mid", folder / "midi" / "tune1.mid"
    result = invoke("interpolate", out, "--between", a, b, "--steps", "7", "--out", tmp_path / "path")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "path").glob("*.mid")) == [f"interpolation_{i}.mid" for i in range(7)]
    assert (tmp_path / "path" / "interpolation.png").stat().st_size > 1000


def test_reconstruct_and_evaluate(run, folder, tmp_path):
    out, _ = run
    result = invoke("reconstruct", out, "--data", folder / "midi", "--n", "2", "--out", tmp_path / "rec")
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in (tmp_path / "rec").iterdir())
    assert names == [  # two tunes: each original beside its reconstruction, named as what they are
        "original_0.mid", "original_1.mid", "reconstruction.png", "reconstruction_0.mid", "reconstruction_1.mid",
    ]  # fmt: skip
    original = mido.MidiFile(tmp_path / "rec" / "original_0.mid")
    assert sum(m.type == "note_on" and m.velocity > 0 for m in original) > 0
    result = invoke("evaluate", out, "--k", "2", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{") :])
    assert 0 <= metrics["accuracy_teacher_forced"] <= 1


def test_bad_input_is_one_line_error(run, tmp_path):
    out, _ = run
    (tmp_path / "a.mid").write_text("hello")
    result = invoke("interpolate", out, "--between", tmp_path / "a.mid", tmp_path / "a.mid")
    assert result.exit_code == 2 and "a.mid is not a readable MIDI file" in result.output
    (tmp_path / "empty").mkdir()
    result = invoke("reconstruct", out, "--data", tmp_path / "empty")
    assert result.exit_code == 2 and "holds no MIDI files" in result.output


def test_audio_lasts_exactly_the_melody_steps(tmp_path):
    melody = Melody([Note(69, 0, 4), Note(72, 8, 12)], 32)
    audio = synthesize(melody, tempo=120)
    assert len(audio) == 32 * 0.125 * SAMPLE_RATE  # 16th note at 120 bpm = 0.125 s
    assert np.abs(audio).max() <= 0.8 + 1e-6
    assert np.abs(audio[int(5 * 0.125 * SAMPLE_RATE) : int(7.5 * 0.125 * SAMPLE_RATE)]).max() == 0  # the rest
    # the first note is A4: its spectrum peaks at 440 Hz
    first = audio[: int(4 * 0.125 * SAMPLE_RATE)]
    peak = np.fft.rfftfreq(len(first), 1 / SAMPLE_RATE)[np.abs(np.fft.rfft(first)).argmax()]
    assert abs(peak - 440) < 3
    path = write_wav(tmp_path / "a.wav", audio)
    with wave.open(str(path)) as f:
        assert f.getnframes() == len(audio)
