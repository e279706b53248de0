"""A molecule VAE as users see it: SMILES in, SMILES out, properties in physical units.

:class:`MoleculeModel` is a :class:`~vaekit.text.TextModel` (the sequence VAE and its SMILES or SELFIES
tokenizer) plus the names and standardization of the properties its head predicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaekit.chem.molecules import DEFAULT_PROPERTIES, is_valid
from vaekit.decoding import DecodeOptions
from vaekit.generate import interpolate_latents
from vaekit.io import ModelFileError, load_extra
from vaekit.text.model import TextModel

MOLECULES_KEY = "molecules"


@dataclass
class MoleculeModel:
    """A sequence VAE over molecules with its tokenizer and property standardization.

    Attributes:
        text: the model and tokenizer (strings are SMILES).
        properties: names of the properties the head predicts (empty: no head).
        mean, std: the training set's property means and standard deviations (the head predicts
            standardized values).
    """

    text: TextModel
    properties: tuple[str, ...] = DEFAULT_PROPERTIES
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def model(self) -> torch.nn.Module:
        return self.text.model

    @property
    def has_head(self) -> bool:
        """Whether the model predicts properties from z."""
        return hasattr(self.model, "predict_properties") and self.mean is not None

    @property
    def conditional(self) -> bool:
        return self.model.conditioner is not None

    # ------------------------------------------------------------ properties
    def standardize(self, values: np.ndarray) -> Tensor:
        """Properties (N, P) in physical units -> standardized float tensor."""
        return torch.as_tensor((np.asarray(values, dtype=np.float64) - self.mean) / self.std, dtype=torch.float32)

    def predict_at(self, z: Tensor) -> Tensor:
        """The head's properties at latents z (N, D), in physical units: (N, P), differentiable in z."""
        if not self.has_head:
            raise ValueError("this molecule model has no property head")
        scale = torch.as_tensor(self.std, dtype=z.dtype, device=z.device)
        shift = torch.as_tensor(self.mean, dtype=z.dtype, device=z.device)
        return self.model.predict_properties(z) * scale + shift

    @torch.no_grad()
    def predict(self, smiles: list[str]) -> np.ndarray:
        """The head's properties of molecules (at their posterior means): (N, P)."""
        return self.predict_at(self.latents(smiles)).numpy()

    def latents(self, smiles: list[str]) -> Tensor:
        """Posterior means (N, D) of molecules; a conditional model encodes them at their own (RDKit) properties."""
        y = None
        if self.conditional:
            from vaekit.chem.molecules import compute_properties

            y = self.standardize(compute_properties(smiles, self.properties))
        return self.text.latent_means(smiles, y=y)

    def interpolate(
        self,
        a: str,
        b: str,
        steps: int = 8,
        options: DecodeOptions | None = None,
        method: str = "lerp",
        syntax: bool = True,
    ) -> list[str]:
        """SMILES decoded at ``steps`` evenly spaced points (``method``: lerp or slerp) from the latent of ``a`` to
        that of ``b``; ``syntax``: see :meth:`molecule_options`."""
        za, zb = self.latents([a, b])
        return self.decode(interpolate_latents(za, zb, steps, method), options, syntax=syntax)

    def reconstruct(self, smiles: list[str], options: DecodeOptions | None = None, syntax: bool = True) -> list[str]:
        """Each molecule decoded from its posterior mean, under the same decoding rules as :meth:`sample`."""
        return self.decode(self.latents(smiles), options, syntax=syntax)

    def condition(self, target: dict[str, float] | None, n: int) -> Tensor | None:
        """The standardized condition rows for generating at ``target`` (properties not named: the training mean).

        Raises:
            ValueError: a conditional model without a target, or an unknown property name.
        """
        if not self.conditional:
            if target:
                raise ValueError("this model is not conditional: it cannot generate at a target property")
            return None
        values = np.array(self.mean, dtype=np.float64)
        for name, value in (target or {}).items():
            if name not in self.properties:
                raise ValueError(f"unknown property {name!r}; this model's: {list(self.properties)}")
            values[self.properties.index(name)] = float(value)
        return self.standardize(values[None]).expand(n, -1)

    # ------------------------------------------------------------ generation
    def molecule_options(self, options: DecodeOptions | None, syntax: bool = True) -> DecodeOptions:
        """``options`` (greedy by default) that never decode to an empty string, which is no molecule: at least
        one symbol before the end, and the first symbol one a molecule can begin with (an atom). With ``syntax``
        a SMILES model also keeps to the SMILES syntax and valences (branches and ring closures paired, no atom
        with more bonds than its valence).

        With SELFIES, or Kekulé SMILES under the syntax, every decoding is then a valid molecule."""
        options = options or DecodeOptions()
        never_first = tuple(sorted({*options.never_first, *self.text.tokenizer.never_first()}))
        grammar = options.grammar or (self.text.tokenizer.grammar() if syntax else None)
        return replace(options, min_length=max(1, options.min_length), never_first=never_first, grammar=grammar)

    def sample(
        self,
        n: int,
        options: DecodeOptions | None = None,
        seed: int = 0,
        spread: float = 1.0,
        target: dict[str, float] | None = None,
        syntax: bool = True,
    ) -> list[str]:
        """``n`` SMILES decoded from prior draws (at ``target`` properties for a conditional model); ``syntax``:
        see :meth:`molecule_options`."""
        options = self.molecule_options(options, syntax)
        return self.text.sample(n, options, seed, spread, self.condition(target, n))

    def decode(self, z: Tensor, options: DecodeOptions | None = None, seed: int = 0, syntax: bool = True) -> list[str]:
        """SMILES decoded from latents z (N, D); ``syntax``: see :meth:`molecule_options`."""
        generator = torch.Generator().manual_seed(seed)
        options = self.molecule_options(options, syntax)
        return self.text.decode_latents(z, options, generator, self.condition(None, len(z)))

    def validity_per_point(
        self, z: Tensor, repeats: int = 10, options: DecodeOptions | None = None, seed: int = 0
    ) -> np.ndarray:
        """The fraction of valid molecules among ``repeats`` decodings of each latent point: (N,).

        With greedy decoding every repeat is the same string; use sampling options to see the spread.
        """
        options = options or DecodeOptions("sample", temperature=1.0)
        z = z.repeat_interleave(repeats, 0)
        valid = np.array([is_valid(s) for s in self.decode(z, options, seed)], dtype=float)
        return valid.reshape(-1, repeats).mean(1)

    # -------------------------------------------------------------------- io
    def save(self, directory: str | Path) -> Path:
        """Save the model, its tokenizer and the property standardization."""
        return self.text.save(directory, extra={MOLECULES_KEY: self.description()})

    def description(self) -> dict:
        """What is saved beside the model (JSON)."""
        return {
            "properties": list(self.properties),
            "mean": None if self.mean is None else [float(v) for v in self.mean],
            "std": None if self.std is None else [float(v) for v in self.std],
        }

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> MoleculeModel:
        """Load a molecule model (a model folder, or a run folder holding ``model/``).

        Raises:
            ModelFileError: not a model saved by a molecule run.
        """
        text = TextModel.load(directory, map_location)
        extra = load_extra(_model_dir(directory))
        if MOLECULES_KEY not in extra:
            raise ModelFileError(f"{directory} holds a sequence model that was not trained on molecules")
        info = extra[MOLECULES_KEY]
        mean = None if info.get("mean") is None else np.array(info["mean"])
        std = None if info.get("std") is None else np.array(info["std"])
        return cls(text, tuple(info.get("properties", ())), mean, std)


def _model_dir(directory: str | Path) -> Path:
    directory = Path(directory)
    return directory / "model" if (directory / "model" / "config.json").is_file() else directory


def is_molecule_model(directory: str | Path) -> bool:
    """Whether a model (or run) folder holds a model trained on molecules."""
    try:
        return MOLECULES_KEY in load_extra(_model_dir(directory))
    except (ModelFileError, OSError, ValueError):
        return False


def parse_target(text: str | None, names: Sequence[str] | None = None) -> dict[str, float] | None:
    """``"qed=0.9,logp=2"`` -> ``{"qed": 0.9, "logp": 2.0}`` (None for None or an empty string).

    Raises:
        ValueError: a malformed entry.
    """
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip().lower()] = float(value)
        except ValueError:
            raise ValueError(f"a target is name=value[,name=value], e.g. qed=0.9; got {part!r}") from None
    return out
