"""Kinds of line data that train through the one text run path (:func:`vaekit.text.train_text_run`).

Plain text is the base :class:`SequenceDomain`. Another kind (molecules, music events) subclasses it where
it departs from text: where its corpus comes from, its default tokenizer and model, per-line targets for
the model (``y``: the properties a molecule VAE's head learns), what it saves with the model, and the domain
outputs and metrics written at the end of a run. A subclass registers with
``@register("sequence_domain", name)`` in a module listed in :data:`DOMAIN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from vaekit.registry import registered

if TYPE_CHECKING:
    from vaekit.config import RunConfig
    from vaekit.text.corpus import TextCorpus
    from vaekit.text.model import TextModel

# Modules that register sequence domains; imported when a run looks for its domain. They must import without
# their domain's optional dependencies (those are needed only once data is read).
DOMAIN_MODULES = ["vaekit.chem.domain"]


class SequenceDomain:
    """Plain text: a built-in text corpus or a ``.txt`` file, the word tokenizer, no targets."""

    name = "text"
    default_tokenizer = "word"
    model_defaults: dict[str, Any] = {"type": "sequence_vae", "latent_dim": 16, "hidden": 256, "embed_dim": 300}

    @classmethod
    def claims(cls, config: RunConfig) -> bool:
        """Whether a run config trains on this kind of data."""
        from vaekit.text.corpus import TEXT_DATASETS, TEXT_SUFFIXES

        data = config.data
        if data.path is not None:
            return Path(data.path).suffix.lower() in TEXT_SUFFIXES or data.tokenizer is not None
        return data.name in TEXT_DATASETS or data.tokenizer is not None

    def load_corpus(self, config: RunConfig) -> TextCorpus:
        """The train / validation / test lines the config names."""
        from vaekit.text.corpus import load_text_corpus

        d = config.data
        return load_text_corpus(d.name, d.path, d.validation, d.test, d.limit, d.split_seed)

    def model_spec(self, config: RunConfig) -> dict[str, Any]:
        """The model section with this domain's defaults (the tokenizer's sizes are added by the run)."""
        from vaekit.registry import ConfigError

        user = dict(config.model)
        if user.pop("conditional", False):
            raise ConfigError("model.conditional is not supported for text runs (the lines carry no labels)")
        return {**self.model_defaults, **user}

    def fit_targets(self, lines: list[str], log: Callable[[str], None]) -> None:
        """Learn what :meth:`targets` needs from the training lines (e.g. the properties' means)."""

    def targets(self, lines: list[str]) -> Tensor | None:
        """The model's ``y`` for each line (None: the model takes none)."""
        return None

    def saved_extra(self) -> dict[str, Any]:
        """What is saved beside the model for this domain (JSON-able)."""
        return {}

    def finish(self, text_model: TextModel, corpus: TextCorpus, out: Path, config: RunConfig) -> dict[str, Any]:
        """Write the run's examples into ``out`` and return domain metrics added to ``metrics.json``."""
        from vaekit.text.runs import write_text_examples

        if config.evaluate.plots:
            write_text_examples(text_model, corpus.test or corpus.train, out, config.seed)
        return {}


def domain_for(config: RunConfig) -> SequenceDomain | None:
    """The domain whose data a run config names (registered domains first, then plain text), or None."""
    for module in DOMAIN_MODULES:
        importlib.import_module(module)
    for cls in registered("sequence_domain").values():
        if cls.claims(config):
            return cls()
    return SequenceDomain() if SequenceDomain.claims(config) else None
