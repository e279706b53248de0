"""RDKit in one place: parsing without log noise, canonical SMILES, and the properties a model learns
(QED, logP, SA score, molecular weight). Everything that needs RDKit imports it through :func:`rdkit_modules`,
so ``import vaekit.chem`` works without the ``chem`` extra and fails only when a molecule is touched."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from typing import Any

import numpy as np

from vaekit.data.errors import DataError

PROPERTIES = ("qed", "logp", "sa", "mw")
DEFAULT_PROPERTIES = ("qed", "logp", "sa")


@functools.cache
def rdkit_modules() -> Any:
    """``rdkit.Chem`` with its log silenced (invalid samples are expected and counted, not printed)."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise DataError("molecules need RDKit: pip install 'vaekit[chem]'") from None
    RDLogger.DisableLog("rdApp.*")
    return Chem


def to_mol(smiles: str) -> Any:
    """The RDKit molecule of a SMILES string, or None if it is empty or invalid."""
    if not smiles:
        return None
    return rdkit_modules().MolFromSmiles(smiles)


def canonical(smiles: str) -> str | None:
    """Canonical SMILES (RDKit's), or None for an invalid or empty string."""
    mol = to_mol(smiles)
    return None if mol is None else rdkit_modules().MolToSmiles(mol)


def kekule(smiles: str) -> str:
    """The canonical SMILES of a molecule in Kekulé form: its aromatic rings as alternating single and double
    bonds, so it has no aromatic atom (``"c1ccccc1"`` -> ``"C1=CC=CC=C1"``).

    Raises:
        DataError: ``smiles`` is not a valid molecule.
    """
    chem = rdkit_modules()
    mol = to_mol(smiles)
    if mol is None:
        raise DataError(f"{smiles!r} is not a valid molecule")
    chem.Kekulize(mol, clearAromaticFlags=True)  # never fails: reading a molecule kekulizes it once already
    return chem.MolToSmiles(mol, kekuleSmiles=True)


def is_valid(smiles: str) -> bool:
    """Whether RDKit reads ``smiles`` as a molecule (MOSES's validity: non-empty and parses)."""
    return to_mol(smiles) is not None


@functools.cache
def _sa_module() -> Any:
    from rdkit import RDConfig

    # The SA score of Ertl & Schuffenhauer (2009) ships in RDKit's Contrib folder, not as an importable module.
    folder = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if folder not in sys.path:
        sys.path.append(folder)
    import sascorer

    return sascorer


def _qed(mol: Any) -> float:
    from rdkit.Chem import QED

    return float(QED.qed(mol))


def _logp(mol: Any) -> float:
    from rdkit.Chem import Crippen

    return float(Crippen.MolLogP(mol))


def _sa(mol: Any) -> float:
    return float(_sa_module().calculateScore(mol))


def _mw(mol: Any) -> float:
    from rdkit.Chem import Descriptors

    return float(Descriptors.MolWt(mol))


PROPERTY_FUNCTIONS: dict[str, Callable[[Any], float]] = {"qed": _qed, "logp": _logp, "sa": _sa, "mw": _mw}


def check_properties(names: Sequence[str]) -> list[str]:
    """The property names, checked.

    Raises:
        DataError: an unknown property (the valid ones listed).
    """
    names = [str(n).lower() for n in names]
    unknown = [n for n in names if n not in PROPERTY_FUNCTIONS]
    if unknown or not names:
        raise DataError(f"unknown molecular properties {unknown}; valid: {list(PROPERTIES)}")
    return names


def properties_of(smiles: str, names: Sequence[str] = DEFAULT_PROPERTIES) -> list[float] | None:
    """The named properties of one molecule (None if the SMILES is invalid)."""
    mol = to_mol(smiles)
    return None if mol is None else [PROPERTY_FUNCTIONS[n](mol) for n in names]


def _properties_chunk(args: tuple[list[str], tuple[str, ...]]) -> list[list[float] | None]:
    chunk, names = args
    return [properties_of(s, names) for s in chunk]


def compute_properties(
    smiles: Sequence[str], names: Sequence[str] = DEFAULT_PROPERTIES, processes: int = 1
) -> np.ndarray:
    """Properties of many molecules, (N, P) float64, NaN rows for invalid SMILES.

    QED dominates (about 2 ms per molecule), so large sets are split over ``processes`` worker processes.
    """
    names = tuple(check_properties(names))
    smiles = list(smiles)
    if processes > 1 and len(smiles) >= 2000:
        size = -(-len(smiles) // (processes * 4))
        chunks = [(smiles[i : i + size], names) for i in range(0, len(smiles), size)]
        with get_context("spawn").Pool(processes) as pool:
            rows = [row for part in pool.map(_properties_chunk, chunks) for row in part]
    else:
        rows = _properties_chunk((smiles, names))
    out = np.full((len(smiles), len(names)), np.nan)
    for i, row in enumerate(rows):
        if row is not None:
            out[i] = row
    return out
