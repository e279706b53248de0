"""Molecule grids drawn by RDKit (PNG): samples, interpolations, optimisation trajectories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaekit.chem.molecules import rdkit_modules, to_mol
from vaekit.io import atomic_write_bytes


def draw_molecule_grid(
    smiles: Sequence[str], path: str | Path, legends: Sequence[str] | None = None, per_row: int = 5, size: int = 220
) -> Path:
    """Draw molecules in a grid with a caption under each; an invalid SMILES is an empty cell captioned
    "invalid". Written atomically as PNG."""
    rdkit_modules()
    from rdkit.Chem import Draw

    mols = [to_mol(s) for s in smiles]
    captions = list(legends) if legends is not None else [s if len(s) <= 40 else s[:37] + "..." for s in smiles]
    captions = [c if m is not None else f"invalid: {c}" for c, m in zip(captions, mols)]
    empty = rdkit_modules().Mol()
    image = Draw.MolsToGridImage(
        [m if m is not None else empty for m in mols],
        molsPerRow=per_row,
        subImgSize=(size, size),
        legends=captions,
        returnPNG=True,
    )
    data = image if isinstance(image, bytes) else _png_bytes(image)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def _png_bytes(image: object) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()
