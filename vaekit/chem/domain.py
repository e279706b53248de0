"""Molecules in the text run path: ``vaekit train configs/moses_selfies.yaml`` trains a sequence VAE on SMILES
(tokenized as SMILES symbols or SELFIES) with a head that learns QED, logP and SA from z.

Imports without RDKit; the chem extra is needed once molecules are read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from vaekit.chem.corpus import MOLECULE_SUFFIXES
from vaekit.registry import register
from vaekit.text.domains import SequenceDomain

if TYPE_CHECKING:
    from vaekit.config import RunConfig
    from vaekit.text.corpus import TextCorpus
    from vaekit.text.model import TextModel

MOLECULE_TOKENIZERS = ("smiles", "kekule_smiles", "selfies")
# Property values by property names and SMILES, kept for the process: QED takes about 2 ms a molecule, and runs
# in one process (a benchmark, tests) often train on the same molecules.
_PROPERTY_CACHE: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
HEAD_MODELS = ("property_sequence_vae",)


def _tokenizer_name(config: RunConfig) -> str | None:
    spec = config.data.tokenizer
    return spec.get("type") if isinstance(spec, dict) else spec


@register("sequence_domain", "molecules")
class MoleculeDomain(SequenceDomain):
    """MOSES or a .smi / CSV file of SMILES; SELFIES by default; a property head by default."""

    name = "molecules"
    default_tokenizer = "selfies"
    model_defaults: dict[str, Any] = {
        "type": "property_sequence_vae", "latent_dim": 56, "hidden": 256, "embed_dim": 64, "cell": "gru",
    }  # fmt: skip

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.wants_targets = False

    @classmethod
    def claims(cls, config: RunConfig) -> bool:
        data = config.data
        if _tokenizer_name(config) in MOLECULE_TOKENIZERS:
            return True
        if data.path is not None:
            return Path(data.path).suffix.lower() in (".smi", ".smiles")
        return data.name == "moses"

    def load_corpus(self, config: RunConfig) -> TextCorpus:
        from vaekit.chem.corpus import load_molecule_corpus

        d = config.data
        if d.path is not None and Path(d.path).suffix.lower() not in MOLECULE_SUFFIXES:
            from vaekit.data.errors import DataError

            raise DataError(f"molecules are read from {list(MOLECULE_SUFFIXES)} files, not {d.path}")
        self.names = _property_names(config)
        corpus = load_molecule_corpus(d.name, d.path, d.validation, d.test, d.limit, d.split_seed, d.smiles_column)
        if (_tokenizer_name(config) or self.default_tokenizer) == "selfies":
            corpus = _selfies_writable(corpus)
        return corpus

    def model_spec(self, config: RunConfig) -> dict[str, Any]:
        self.names = _property_names(config)
        spec = {**self.model_defaults, **dict(config.model)}
        self.wants_targets = spec["type"] in HEAD_MODELS
        if self.wants_targets:
            spec.setdefault("n_properties", len(self.names))
        elif spec.pop("conditional", False):
            from vaekit.registry import ConfigError

            raise ConfigError(f"model.conditional needs a model with a property head: {list(HEAD_MODELS)}")
        return spec

    def _properties(self, lines: list[str]) -> np.ndarray:
        from vaekit.chem.molecules import compute_properties

        cache = _PROPERTY_CACHE.setdefault(self.names, {})
        missing = [s for s in dict.fromkeys(lines) if s not in cache]
        if missing:
            cache.update(zip(missing, compute_properties(missing, self.names, processes=2)))
        return np.stack([cache[s] for s in lines])

    def fit_targets(self, lines: list[str], log: Callable[[str], None]) -> None:
        if not self.wants_targets:
            return
        log(f"computing {', '.join(self.names)} of {len(lines)} training molecules")
        values = self._properties(lines)
        self.mean, self.std = values.mean(0), values.std(0) + 1e-8

    def targets(self, lines: list[str]) -> Tensor | None:
        if not self.wants_targets:
            return None
        return torch.as_tensor((self._properties(lines) - self.mean) / self.std, dtype=torch.float32)

    def saved_extra(self) -> dict[str, Any]:
        from vaekit.chem.model import MOLECULES_KEY

        return {
            MOLECULES_KEY: {
                "properties": list(self.names) if self.wants_targets else [],
                "mean": [float(v) for v in self.mean] if self.wants_targets else None,
                "std": [float(v) for v in self.std] if self.wants_targets else None,
            }
        }

    def finish(self, text_model: TextModel, corpus: TextCorpus, out: Path, config: RunConfig) -> dict[str, Any]:
        from vaekit.chem.model import MoleculeModel
        from vaekit.chem.reports import property_head_report, write_molecule_examples

        if self.wants_targets:
            molecules = MoleculeModel(text_model, self.names, self.mean, self.std)
        else:
            molecules = MoleculeModel(text_model, ())
        held_out = corpus.test or corpus.train
        metrics: dict[str, Any] = {}
        if molecules.has_head and not molecules.conditional:  # a conditional model is told its properties
            some = held_out[:2000]
            metrics["property_head"] = property_head_report(molecules, some, self._properties(some))
        if config.evaluate.plots:
            metrics.update(write_molecule_examples(molecules, held_out, out, config.seed))
        return metrics


def _property_names(config: RunConfig) -> tuple[str, ...]:
    from vaekit.chem.molecules import DEFAULT_PROPERTIES, check_properties

    return tuple(check_properties(config.data.properties or DEFAULT_PROPERTIES))


def _selfies_writable(corpus: TextCorpus) -> TextCorpus:
    """Leave out (and count) the molecules SELFIES cannot write (its bonding rules reject a few charged atoms)."""
    from vaekit.data.errors import DataError
    from vaekit.data.molecule_tokenizers import smiles_to_selfies_symbols

    def writable(lines: list[str], source: str) -> list[str]:
        kept = []
        for s in lines:
            try:
                smiles_to_selfies_symbols(s)
                kept.append(s)
            except DataError:
                pass
        if len(kept) < len(lines):
            skipped = len(lines) - len(kept)
            corpus.report.notes.append(f"{skipped} molecule(s) of {source} not writable as SELFIES skipped")
        return kept

    corpus.train = writable(corpus.train, "train")
    corpus.validation = writable(corpus.validation, "validation")
    corpus.test = writable(corpus.test, "test")
    return corpus
