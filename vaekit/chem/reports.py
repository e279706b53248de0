"""What a molecule run writes at its end: the property head's accuracy on held-out molecules, samples with their
validity, and molecule-grid pictures of samples and of an interpolation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.chem.model import MoleculeModel
from vaekit.chem.molecules import canonical
from vaekit.chem.pictures import draw_molecule_grid
from vaekit.decoding import DecodeOptions
from vaekit.text.runs import write_text


def property_head_report(model: MoleculeModel, smiles: list[str], truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Per property: Pearson correlation and mean absolute error of the head (at the posterior mean) against
    RDKit's values. The correlation is NaN (null in metrics.json) where it is undefined: fewer than two
    molecules, or either side constant."""
    predicted = model.predict(smiles)
    report = {}
    for i, name in enumerate(model.properties):
        report[name] = {
            "correlation": _correlation(predicted[:, i], truth[:, i]),
            "mae": float(np.abs(predicted[:, i] - truth[:, i]).mean()),
        }
    return report


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    # Checked first: np.corrcoef would warn (degrees of freedom <= 0, a division by a zero spread) and give NaN.
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def validity(smiles: list[str]) -> dict[str, float]:
    """The share of valid molecules and of unique ones among the valid."""
    canon = [canonical(s) for s in smiles]
    valid = [c for c in canon if c is not None]
    return {"validity": len(valid) / max(1, len(smiles)), "unique": len(set(valid)) / max(1, len(valid))}


def write_molecule_examples(model: MoleculeModel, held_out: list[str], out: Path, seed: int = 0) -> dict[str, Any]:
    """``samples.smi`` (1,000 prior draws), ``samples.png``, ``interpolation.png`` and ``reconstructions.smi``;
    returns the samples' validity and uniqueness."""
    greedy = DecodeOptions("greedy")
    samples = model.sample(1000, greedy, seed=seed)
    write_text(out / "samples.smi", samples)
    draw_molecule_grid(samples[:20], out / "samples.png")
    a, b = held_out[0], held_out[min(1, len(held_out) - 1)]
    path = model.interpolate(a, b, 8, greedy)
    draw_molecule_grid([a, *path, b], out / "interpolation.png", ["from", *[f"step {i}" for i in range(8)], "to"])
    originals = held_out[:10]
    again = model.decode(model.latents(originals), greedy)
    write_text(out / "reconstructions.smi", [f"{x} {y}" for x, y in zip(originals, again)])
    per_point = model.validity_per_point(model.model.prior.sample(20, 1.0), repeats=10, options=None, seed=seed)
    return {"samples": validity(samples), "validity_per_point": {"mean": float(per_point.mean()), "points": 20}}
