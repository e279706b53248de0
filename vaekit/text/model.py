"""A sequence VAE together with its tokenizer: strings in, strings out.

:class:`TextModel` is what the text commands use: it encodes strings with the tokenizer saved
beside the model, and decodes latents into strings with any :class:`~vaekit.decoding.DecodeOptions`.
Nothing in it is specific to natural language: a SMILES or MIDI-event model works the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.data.errors import DataError
from vaekit.data.lines import LineReport, encode_lines
from vaekit.data.tokenizers import Tokenizer, tokenizer_from_config
from vaekit.decoding import DecodeOptions
from vaekit.generate import interpolate_latents, prior_draws
from vaekit.io import ModelFileError, load, load_extra, save_model

TOKENIZER_KEY = "tokenizer"
SEQUENCE_KEY = "sequence"


@dataclass
class TextModel:
    """A sequence VAE over token ids and the tokenizer that turns strings into them.

    Attributes:
        model: a VAE whose data are ``[max_length]`` token ids (e.g. built by ``sequence_vae``).
        tokenizer: its tokenizer (pad id = the model's padding id, end token = its end id).
        long_lines: what to do with inputs over ``max_length`` tokens: truncate, drop or refuse.
    """

    model: nn.Module
    tokenizer: Tokenizer
    long_lines: str = "truncate"

    @property
    def max_length(self) -> int:
        """Tokens per example, end token included."""
        return int(self.model.data_shape[0])

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    # --------------------------------------------------------------- encoding
    def encode_texts(self, texts: list[str], report: LineReport | None = None, source: str = "the input") -> Tensor:
        """Token ids (N, max_length) of ``texts`` (see :func:`vaekit.data.lines.encode_lines`)."""
        texts = [t.strip() for t in texts]
        if not any(texts):
            raise DataError(f"{source} has no non-empty text")
        empty = sum(1 for t in texts if not t)
        if report is not None:
            report.empty += empty
        kept = [t for t in texts if t]
        return encode_lines(self.tokenizer, kept, self.max_length, self.long_lines, report=report, source=source)

    @torch.no_grad()
    def latent_means(self, texts: list[str], batch_size: int = 500, y: Tensor | None = None) -> Tensor:
        """Posterior means E[z|x] (N, D) of the texts (given their conditions y (N, ...) for a conditional model)."""
        self.model.eval()
        ids = self.encode_texts(texts)
        device = self._device()
        parts = []
        for i in range(0, len(ids), batch_size):
            y_part = None if y is None else y[i : i + batch_size].to(device)
            parts.append(self.model.encode(ids[i : i + batch_size].to(device), y_part).mean)
        return torch.cat(parts).cpu()

    # --------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode_latents(
        self,
        z: Tensor,
        options: DecodeOptions | None = None,
        generator: torch.Generator | None = None,
        y: Tensor | None = None,
    ) -> list[str]:
        """Strings decoded from latents (N, D) (and the conditions y (N, ...) of a conditional model)."""
        self.model.eval()
        p_x = self.model.decode(z.to(self._device()), None if y is None else y.to(self._device()))
        return self.tokenizer.decode_batch(p_x.decode(options, generator).cpu())

    def sample(
        self,
        n: int,
        options: DecodeOptions | None = None,
        seed: int = 0,
        spread: float = 1.0,
        y: Tensor | None = None,
    ) -> list[str]:
        """``n`` strings from z drawn from the prior (its spread scaled by ``spread``), at conditions y (N, ...)
        for a conditional model."""
        generator = torch.Generator(device=self._device()).manual_seed(seed)
        return self.decode_latents(prior_draws(self.model, n, seed, spread), options, generator, y)

    def reconstruct(self, texts: list[str], options: DecodeOptions | None = None) -> list[str]:
        """Each text decoded from its posterior mean."""
        return self.decode_latents(self.latent_means(texts), options)

    def interpolate(
        self, a: str, b: str, steps: int = 8, options: DecodeOptions | None = None, method: str = "lerp"
    ) -> list[str]:
        """The homotopy: strings decoded at ``steps`` evenly spaced points from mean(z|a) to mean(z|b)."""
        za, zb = self.latent_means([a, b])
        return self.decode_latents(interpolate_latents(za, zb, steps, method), options)

    # --------------------------------------------------------------------- io
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Save the model with the tokenizer (JSON) in ``directory``."""
        document = {TOKENIZER_KEY: self.tokenizer.config(), SEQUENCE_KEY: {"long_lines": self.long_lines}}  # type: ignore[attr-defined]
        return save_model(self.model, directory, extra={**(extra or {}), **document})

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> TextModel:
        """Load a model saved by :meth:`save` (a model folder, or a run folder holding ``model/``).

        Raises:
            ModelFileError: not a saved model, or one saved without a tokenizer.
        """
        directory = Path(directory)
        if (directory / "model" / "config.json").is_file():
            directory = directory / "model"
        extra = load_extra(directory)
        if TOKENIZER_KEY not in extra:
            raise ModelFileError(f"{directory} holds a model saved without a tokenizer; it does not read text")
        model = load(directory, map_location=map_location)
        tokenizer = tokenizer_from_config(extra[TOKENIZER_KEY])
        return cls(model, tokenizer, extra.get(SEQUENCE_KEY, {}).get("long_lines", "truncate"))


def is_text_model(directory: str | Path) -> bool:
    """Whether a model (or run) folder holds a model saved with a tokenizer."""
    directory = Path(directory)
    if (directory / "model" / "config.json").is_file():
        directory = directory / "model"
    try:
        return TOKENIZER_KEY in load_extra(directory)
    except (ModelFileError, OSError, ValueError):
        return False
