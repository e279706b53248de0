"""The MOSES metrics (Polykovskiy et al. 2020) with the package's definitions, computed faster: fingerprints,
fragments and scaffolds in worker processes, Tanimoto similarities as blocked float32 matrix products (exact:
bit counts are integers in float32), and the reference statistics of MOSES's test sets read once.

validity: share of samples RDKit reads; unique@k: distinct canonical SMILES among the first k valid ones;
novelty: share of distinct valid samples absent from the training SMILES; FCD: Fréchet ChemNet Distance
(fcd-torch); SNN: mean over samples of the highest Tanimoto similarity (Morgan r=2, 1024 bits) to a reference
molecule; Frag / Scaf: cosine similarity of BRICS-fragment / Bemis-Murcko-scaffold counts; IntDiv:
1 - mean pairwise Tanimoto similarity among the valid samples.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch

from vaekit.chem.molecules import canonical, rdkit_modules, to_mol

FINGERPRINT_BITS = 1024


# ------------------------------------------------------------------ per molecule (run in workers)
def _fingerprint(smiles: str) -> np.ndarray:
    """The Morgan fingerprint of a valid SMILES: (1024,) uint8 bits."""
    return _morgan().GetFingerprintAsNumPy(to_mol(smiles))


@functools.cache
def _morgan() -> Any:
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FINGERPRINT_BITS)


def _fragments(smiles: str) -> list[str]:
    from rdkit.Chem import AllChem

    return rdkit_modules().MolToSmiles(AllChem.FragmentOnBRICSBonds(to_mol(smiles))).split(".")


def _scaffold(smiles: str, min_rings: int = 2) -> str | None:
    from rdkit.Chem.Scaffolds import MurckoScaffold

    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(to_mol(smiles))
    except (ValueError, RuntimeError):
        return None
    text = rdkit_modules().MolToSmiles(scaffold)
    if not text or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return text


def _readable_canonical(smiles: str) -> str | None:
    """Canonical SMILES, or the string as written where RDKit cannot read its own canonical form back (rare:
    the molecule is valid, and the fingerprints, fragments and scaffold need a string that reads); None for an
    invalid string."""
    text = canonical(smiles)
    if text is None or to_mol(text) is not None:
        return text
    return smiles


def _chunk(args: tuple[str, list[str]]) -> list[Any]:
    name, smiles = args
    function = {
        "fingerprint": _fingerprint, "fragments": _fragments, "scaffold": _scaffold, "canonical": _readable_canonical
    }  # fmt: skip
    return [function[name](s) for s in smiles]


def _map(name: str, smiles: Sequence[str], processes: int) -> list[Any]:  # pragma: no mutate block (worker plumbing)
    smiles = list(smiles)
    if processes <= 1 or len(smiles) < 4000:
        return _chunk((name, smiles))
    size = -(-len(smiles) // (processes * 4))
    with get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_chunk, [(name, smiles[i : i + size]) for i in range(0, len(smiles), size)])
    return [x for part in parts for x in part]


# ---------------------------------------------------------------------- similarity
def tanimoto_aggregate(
    reference: np.ndarray,
    generated: np.ndarray,
    agg: str,
    block: int = 4096,  # pragma: no mutate (equivalent: the block size changes memory, not values)
) -> np.ndarray:
    """For each generated fingerprint, the ``agg`` ("max" or "mean") Tanimoto similarity to the reference
    fingerprints: (G,).

    Two all-zero fingerprints count as similarity 1 (as in MOSES).
    """
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}")  # pragma: no mutate (message text)
    # float32 counts shared bits exactly (up to 2**24) and its matrix product is fast on every CPU; bf16 is
    # exact only below 256 bits and several times slower where the CPU lacks bf16 instructions.
    ref = torch.as_tensor(reference, dtype=torch.float32)  # (R, F)
    ref_count = ref.sum(1)  # (R,)
    out = np.zeros(len(generated))
    for i in range(0, len(generated), block):  # pragma: no mutate (equivalent: overlapping blocks recompute rows)
        gen = torch.as_tensor(generated[i : i + block], dtype=torch.float32)  # (b, F)
        gen_count = gen.sum(1)
        best = torch.zeros(len(gen))  # float64 after the first "mean" sum (type promotion)
        for j in range(0, len(ref), block):
            both = gen @ ref[j : j + block].T  # (b, r) shared bits
            union = gen_count[:, None] + ref_count[None, j : j + block] - both
            sim = torch.where(union > 0, both / union.clamp_min(1), torch.ones_like(both))
            best = torch.maximum(best, sim.max(1).values) if agg == "max" else best + sim.double().sum(1)
        out[i : i + len(gen)] = best.numpy() if agg == "max" else (best / len(ref)).numpy()
    return out


def cosine_of_counts(reference: Counter, generated: Counter) -> float:
    """Cosine similarity of two count dictionaries (missing keys count 0); NaN if either is empty."""
    if not reference or not generated:
        return math.nan
    keys = list(set(reference) | set(generated))
    r = np.array([float(reference.get(k, 0)) for k in keys])
    g = np.array([float(generated.get(k, 0)) for k in keys])
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))


# --------------------------------------------------------------------- references
@functools.cache
def moses_reference(split: str) -> dict[str, Any]:
    """MOSES's precomputed statistics of ``test`` or ``test_scaffolds`` (FCD mean/covariance, Morgan fingerprints,
    fragment and scaffold counts), as the package ships them (a NumPy archive of a dictionary)."""
    from vaekit.chem.corpus import moses_data_dir

    # The archive stores a Python dictionary, so it needs allow_pickle; it comes from the installed molsets
    # package, not from user input.
    stats = np.load(moses_data_dir() / f"{split}_stats.npz", allow_pickle=True)["stats"].item()
    return {
        "fcd": stats["FCD"],
        "fingerprints": np.asarray(stats["SNN"]["fps"], dtype=np.uint8),
        "fragments": Counter(stats["Frag"]["frag"]),
        "scaffolds": Counter(stats["Scaf"]["scaf"]),
    }


def reference_statistics(
    smiles: Sequence[str],
    processes: int = 1,  # pragma: no mutate (equivalent: workers change speed, not values)
) -> dict[str, Any]:
    """The statistics :func:`moses_metrics` compares with, for any reference set of SMILES."""
    valid = [s for s in smiles if to_mol(s) is not None]
    return {
        "fcd": _fcd_model().precalc(valid),
        "fingerprints": np.stack(_map("fingerprint", valid, processes)),
        "fragments": Counter(f for frags in _map("fragments", valid, processes) for f in frags),
        "scaffolds": Counter(s for s in _map("scaffold", valid, processes) if s is not None),
    }


@functools.cache
def _fcd_model() -> Any:
    from fcd_torch import FCD

    return FCD(device="cpu", n_jobs=1, batch_size=512)


# ------------------------------------------------------------------------- metrics
def moses_metrics(
    generated: Sequence[str],
    train: Sequence[str] | set[str],
    references: dict[str, dict[str, Any]] | None = None,
    unique_at: Sequence[int] = (1000, 10000),
    processes: int = 1,  # pragma: no mutate (equivalent: workers change speed, not values)
) -> dict[str, float]:
    """The MOSES metric set of generated SMILES.

    Args:
        generated: the samples (invalid ones included: they count against validity).
        train: the training SMILES (for novelty).
        references: name -> statistics (:func:`moses_reference` or :func:`reference_statistics`); default
            MOSES's ``Test`` and ``TestSF``.
        unique_at: the k of unique@k.
        processes: worker processes for RDKit work.
    """
    if references is None:
        references = {"Test": moses_reference("test"), "TestSF": moses_reference("test_scaffolds")}
    generated = list(generated)
    canon = _map("canonical", generated, processes)
    valid = [c for c in canon if c is not None]
    metrics: dict[str, float] = {"valid": len(valid) / max(1, len(generated))}
    if not valid:
        return metrics
    for k in unique_at:
        metrics[f"unique@{k}"] = len(set(valid[:k])) / len(valid[:k])
    distinct = set(valid)
    train_set = set(train)
    metrics["novelty"] = len(distinct - train_set) / len(distinct)
    fingerprints = np.stack(_map("fingerprint", valid, processes))
    fragments = Counter(f for frags in _map("fragments", valid, processes) for f in frags)
    scaffolds = Counter(s for s in _map("scaffold", valid, processes) if s is not None)
    fcd_stats = _fcd_model().precalc(valid)
    for name, ref in references.items():
        metrics[f"FCD/{name}"] = float(_fcd_model().metric(ref["fcd"], fcd_stats))
        metrics[f"SNN/{name}"] = float(tanimoto_aggregate(ref["fingerprints"], fingerprints, "max").mean())
        metrics[f"Frag/{name}"] = cosine_of_counts(ref["fragments"], fragments)
        metrics[f"Scaf/{name}"] = cosine_of_counts(ref["scaffolds"], scaffolds)
    metrics["IntDiv"] = float(1 - tanimoto_aggregate(fingerprints, fingerprints, "mean").mean())
    return metrics
