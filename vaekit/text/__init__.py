"""Text: sentence VAEs on Penn Treebank or any file of lines, built on the shared sequence parts
(:mod:`vaekit.data.tokenizers`, :mod:`vaekit.nn.sequence`, :mod:`vaekit.distributions.sequence`,
:mod:`vaekit.decoding`)."""

from vaekit.text.corpus import TEXT_DATASETS, TextCorpus, load_ptb, load_text_corpus
from vaekit.text.model import TextModel, is_text_model
from vaekit.text.runs import is_text_config, train_text_run

__all__ = [
    "TEXT_DATASETS",
    "TextCorpus",
    "TextModel",
    "is_text_config",
    "is_text_model",
    "load_ptb",
    "load_text_corpus",
    "train_text_run",
]
