"""Music: MusicVAE-style melody VAEs on the shared sequence parts. Melodies become MusicVAE's event
tokens (:mod:`vaekit.music.events`), read from music21's folk tunes or MIDI folders
(:mod:`vaekit.music.corpus`, :mod:`vaekit.music.midi`), modelled by the shared ``sequence_vae`` with a
flat or hierarchical decoder, and written out as MIDI, WAV and piano rolls (:mod:`vaekit.music.outputs`)."""

from vaekit.music.corpus import FOLK_COLLECTIONS, load_folk_tunes, load_melodies, melody_windows, split_tunes
from vaekit.music.events import Melody, MelodyEncoding, Note
from vaekit.music.metrics import melody_statistics, reconstruction_accuracy
from vaekit.music.midi import read_midi, read_midi_folder, write_midi
from vaekit.music.model import MusicModel, is_music_model
from vaekit.music.outputs import synthesize, write_melodies, write_reconstructions, write_wav
from vaekit.music.report import MusicReport
from vaekit.music.runs import is_music_config, train_music_run

__all__ = [
    "FOLK_COLLECTIONS",
    "Melody",
    "MelodyEncoding",
    "MusicModel",
    "MusicReport",
    "Note",
    "is_music_config",
    "is_music_model",
    "load_folk_tunes",
    "load_melodies",
    "melody_statistics",
    "melody_windows",
    "read_midi",
    "read_midi_folder",
    "reconstruction_accuracy",
    "split_tunes",
    "synthesize",
    "train_music_run",
    "write_melodies",
    "write_midi",
    "write_reconstructions",
    "write_wav",
]
