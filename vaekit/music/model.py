"""A sequence VAE over melody events together with its encoding: melodies in, melodies out.

:class:`MusicModel` is what the music commands use. The network is the shared
:class:`~vaekit.models.sequence_vae.SequenceVAE` (bidirectional LSTM encoder; flat or hierarchical
decoder); this class adds the event encoding (saved as JSON beside the weights), the window length
in bars, and melody-level sample / reconstruct / interpolate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.data.errors import DataError
from vaekit.decoding import DecodeOptions
from vaekit.generate import interpolate_latents, prior_draws
from vaekit.io import ModelFileError, load, load_extra, save_model
from vaekit.music.corpus import fit_range
from vaekit.music.events import Melody, MelodyEncoding
from vaekit.music.report import MusicReport

MUSIC_KEY = "music"


def _model_folder(directory: str | Path) -> Path:
    directory = Path(directory)
    return directory / "model" if (directory / "model" / "config.json").is_file() else directory


@dataclass
class MusicModel:
    """A melody VAE: the network and the encoding of its ``bars``-bar windows.

    Attributes:
        model: a VAE over ``[bars * steps_per_bar]`` event tokens (e.g. built by ``sequence_vae``).
        encoding: the event vocabulary.
        bars: bars per window.
    """

    model: nn.Module
    encoding: MelodyEncoding
    bars: int

    @property
    def steps(self) -> int:
        """Event steps per window."""
        return self.bars * self.encoding.steps_per_bar

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    # --------------------------------------------------------------- encoding
    def tokens_of(self, melodies: Sequence[Melody], report: MusicReport | None = None) -> Tensor:
        """The first window of each melody (from its downbeat, moved by octaves into range): (N, steps).

        A melody shorter than a window is padded with rest (and counted as ``short``).

        Raises:
            DataError: a melody the encoding cannot spell even an octave or two away.
        """
        rows = []
        for melody in melodies:
            if melody.steps - melody.downbeat < self.steps and report is not None:
                report.short += 1
            window = fit_range(melody.window(melody.downbeat, self.steps), self.encoding)
            if window is None:
                raise DataError(
                    f"{melody.name or 'a melody'} spans pitches outside "
                    f"{self.encoding.min_pitch}..{self.encoding.max_pitch}, even moved by octaves"
                )
            rows.append(self.encoding.encode(window, self.steps))
        return torch.as_tensor(np.stack(rows))

    @torch.no_grad()
    def latent_means(self, tokens: Tensor, batch_size: int = 500) -> Tensor:
        """Posterior means E[z|x] (N, D) of event tokens (N, steps)."""
        self.model.eval()
        return torch.cat(
            [
                self.model.encode(tokens[i : i + batch_size].to(self._device())).mean
                for i in range(0, len(tokens), batch_size)
            ]
        ).cpu()

    # --------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode_latents(
        self, z: Tensor, options: DecodeOptions | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Event tokens (N, steps) decoded from latents (N, D) (greedy by default)."""
        self.model.eval()
        return self.model.decode(z.to(self._device())).decode(options, generator).cpu()

    def melodies(self, tokens: Tensor, name: str = "") -> list[Melody]:
        """Melodies of event tokens (N, steps)."""
        return [self.encoding.decode(row.tolist(), f"{name}{i}") for i, row in enumerate(tokens)]

    def sample(self, n: int, options: DecodeOptions | None = None, seed: int = 0, spread: float = 1.0) -> Tensor:
        """Event tokens (n, steps) decoded from z drawn from the prior (its spread scaled by ``spread``)."""
        generator = torch.Generator(device=self._device()).manual_seed(seed)
        return self.decode_latents(prior_draws(self.model, n, seed, spread), options, generator)

    def reconstruct(self, tokens: Tensor, options: DecodeOptions | None = None) -> Tensor:
        """Each window decoded from its posterior mean: (N, steps)."""
        return self.decode_latents(self.latent_means(tokens), options)

    def interpolate(
        self, a: Tensor, b: Tensor, steps: int = 7, options: DecodeOptions | None = None, method: str = "slerp"
    ) -> Tensor:
        """Windows decoded at ``steps`` evenly spaced latents from mean(z|a) to mean(z|b), ends included."""
        za, zb = self.latent_means(torch.stack([a, b]))
        return self.decode_latents(interpolate_latents(za, zb, steps, method), options)

    # --------------------------------------------------------------------- io
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Save the network with the encoding and window length (JSON) in ``directory``."""
        document = {MUSIC_KEY: {"encoding": self.encoding.config(), "bars": self.bars}}
        return save_model(self.model, directory, extra={**(extra or {}), **document})

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> MusicModel:
        """Load a model saved by :meth:`save` (a model folder, or a run folder holding ``model/``).

        Raises:
            ModelFileError: not a saved model, or not a melody model.
        """
        directory = _model_folder(directory)
        extra = load_extra(directory)
        if MUSIC_KEY not in extra:
            raise ModelFileError(f"{directory} holds a model saved without a melody encoding; it does not read MIDI")
        document = extra[MUSIC_KEY]
        return cls(load(directory, map_location=map_location), MelodyEncoding(**document["encoding"]), document["bars"])


def is_music_model(directory: str | Path) -> bool:
    """Whether a model (or run) folder holds a melody model."""
    try:
        return MUSIC_KEY in load_extra(_model_folder(directory))
    except (ModelFileError, OSError, ValueError):
        return False
