"""Molecule corpora: the built-in MOSES split (inside the PyPI package ``molsets``) and the user's ``.smi`` files
or CSV tables with a SMILES column. Invalid SMILES are counted and skipped with a report, never a crash; a source
with no valid molecule is a :class:`NoValidMoleculeError`."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np

from vaekit.chem.molecules import to_mol
from vaekit.data.errors import DataError
from vaekit.data.lines import LineReport, read_lines
from vaekit.text.corpus import TextCorpus, split_lines

MOLECULE_SUFFIXES = (".smi", ".smiles", ".csv")
MOSES_SPLITS = ("train", "test", "test_scaffolds")
SMILES_COLUMNS = ("smiles", "canonical_smiles", "smi")


class NoValidMoleculeError(DataError):
    """A source of molecules holds no SMILES that RDKit can read."""


def moses_data_dir() -> Path:
    """The folder of the MOSES csv files inside the installed ``molsets`` package (found without importing it:
    its metrics module needs APIs that RDKit and pandas have removed).

    Raises:
        DataError: molsets is not installed.
    """
    spec = importlib.util.find_spec("moses")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "dataset" / "data" if spec else None
    if folder is None or not (folder / "train.csv.gz").is_file():
        raise DataError("the moses dataset needs the PyPI package molsets: pip install --no-deps molsets")
    return folder


def load_moses_split(split: str) -> list[str]:
    """The SMILES of one MOSES split: train (1,584,663), test (176,074) or test_scaffolds (176,226)."""
    if split not in MOSES_SPLITS:
        raise DataError(f"unknown MOSES split {split!r}; valid: {list(MOSES_SPLITS)}")
    import pandas as pd

    return pd.read_csv(moses_data_dir() / f"{split}.csv.gz", compression="gzip")["SMILES"].tolist()


def valid_smiles(smiles: list[str], report: LineReport | None = None, source: str = "the data") -> list[str]:
    """The SMILES that RDKit reads; invalid ones are counted in ``report`` (with the first few named).

    Raises:
        NoValidMoleculeError: none is valid.
    """
    kept, bad = [], []
    for number, s in enumerate(smiles, 1):
        if to_mol(s) is not None:
            kept.append(s)
        else:
            bad.append((number, s))
    if bad and report is not None:
        shown = ", ".join(f"#{n} {s!r}" for n, s in bad[:3])
        report.notes.append(f"{len(bad)} invalid SMILES in {source} skipped (e.g. {shown})")
    if not kept:
        raise NoValidMoleculeError(f"{source} holds no valid molecule ({len(smiles)} SMILES read, none parses)")
    return kept


def read_smiles_file(path: str | Path, column: str | None = None, report: LineReport | None = None) -> list[str]:
    """The SMILES of a ``.smi`` file (the first field of each line; a header line ``smiles ...`` is skipped) or
    of a CSV table's SMILES column (``column``, else the first named smiles/canonical_smiles/smi, any case).

    Validity is not checked here (see :func:`valid_smiles`).

    Raises:
        DataError: unreadable file, or a CSV without the column (its columns listed).
    """
    path = Path(path)
    report = report if report is not None else LineReport()
    lines = read_lines(path, report)
    if path.suffix.lower() != ".csv":
        fields = [line.split()[0] for line in lines]
        if fields and fields[0].lower() in SMILES_COLUMNS:
            fields = fields[1:]
        return fields
    rows = list(csv.reader(lines))
    header = [h.strip() for h in rows[0]]
    wanted = [column] if column else [h for h in header if h.lower() in SMILES_COLUMNS][:1]
    if not wanted or wanted[0] not in header:
        raise DataError(f"{path} has no SMILES column ({column or 'smiles'}); its columns: {header}")
    at = header.index(wanted[0])
    return [row[at].strip() for row in rows[1:] if len(row) > at and row[at].strip()]


def load_molecule_corpus(
    name: str = "moses",
    path: str | Path | None = None,
    validation: float = 0.1,
    test: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
    column: str | None = None,
) -> TextCorpus:
    """MOSES or a file of molecules as train / validation / test SMILES, invalid ones counted and skipped.

    MOSES keeps its own test split (``validation`` of the training molecules are held out for validation);
    a file is split by fractions. ``limit`` keeps a seeded random ``limit`` of each split (MOSES's train file
    is ordered, so its first lines are not a fair sample) before the validity check; for MOSES it keeps
    ``limit`` training molecules and ``limit * validation`` / ``limit * test`` validation / test molecules.

    Raises:
        NoValidMoleculeError: a split with molecules holds no valid one.
        DataError: unknown dataset, unreadable file.
    """
    report = LineReport()
    rng = np.random.default_rng(seed)

    def pick(lines: list[str]) -> list[str]:
        if limit is None or len(lines) <= limit:
            return lines
        return [lines[i] for i in sorted(rng.choice(len(lines), int(limit), replace=False))]

    if path is not None:
        lines = valid_smiles(read_smiles_file(path, column, report), report, str(path))
        train, val, te = (pick(part) for part in split_lines(lines, validation, test, seed))
        label = Path(path).stem
    elif name == "moses":
        everything = load_moses_split("train")
        n_val = int(round((len(everything) if limit is None else limit) * validation))
        order = rng.permutation(len(everything))
        val = [everything[i] for i in order[:n_val]]
        train = pick([everything[i] for i in order[n_val:]])
        test_all = load_moses_split("test")
        te = (
            test_all
            if limit is None
            else [test_all[i] for i in sorted(rng.permutation(len(test_all))[: max(1, int(round(limit * test)))])]
        )
        report.lines += len(train) + len(val) + len(te)
        train, te = valid_smiles(train, report, "train"), valid_smiles(te, report, "test")
        val = valid_smiles(val, report, "validation") if val else []
        label = "moses"
    else:
        raise DataError(f"unknown molecule dataset {name!r}; built-in: ['moses'] (or data.path: .smi or .csv)")
    return TextCorpus(label, train, val, te, report)
