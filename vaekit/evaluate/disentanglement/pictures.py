"""Pictures of a disentangled code: latent traversals (PNG and animated GIF) and the
factor-by-latent mutual-information heat map."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor, nn

from vaekit import figures, generate, plots
from vaekit.data.preprocess import Preprocessing
from vaekit.io import atomic_write_bytes


def save_traversal_gif(
    path: str | Path,
    model: nn.Module,
    start: Tensor,
    dims: Sequence[int],
    span: float = 2.5,
    frames: int = 16,
    scale: int = 1,
    frame_ms: int = 80,
) -> Path:
    """An animated GIF: each panel is one latent dimension sweeping -span..span and back, the others
    held at ``start``'s posterior mean (``start`` is a model input).

    Args:
        path: the GIF file.
        model: an image model with ``encode`` / ``decode``.
        start: one model input (C, H, W).
        dims: the latent dimensions to show, one panel each (left to right).
        span: the sweep's extent in prior standard deviations.
        frames: frames per sweep in one direction.
        scale: pixel magnification.
        frame_ms: duration of a frame.
    """
    if not figures.is_image_model(model):
        raise ValueError("a traversal GIF needs an image model")
    device = next(model.parameters()).device
    values = torch.linspace(-span, span, frames)
    with torch.no_grad():
        grid = generate.traverse(model, start.to(device), list(dims), values).cpu()  # (R, V, C, H, W)
    grid = plots.images_in_unit_range(grid).clamp(0, 1)
    pictures = []
    # Forward then back, so the loop has no jump.
    for v in [*range(frames), *range(frames - 2, 0, -1)]:
        panels = grid[:, v]  # (R, C, H, W)
        row = plots.tile(panels.unsqueeze(0).numpy(), pad=2)  # (H', W', C)
        image = (np.clip(row, 0, 1) * 255).round().astype(np.uint8)
        picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        pictures.append(picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST))
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def save_mi_heatmap(path: str | Path, mi_matrix: np.ndarray | Sequence, factor_names: Sequence[str]) -> Path:
    """Heat map of the normalized mutual information I(z_d; v_k) / H(v_k): factors as rows, latents as columns.

    Args:
        path: the PNG file.
        mi_matrix: (D, K) latents by factors (as ``disentanglement_metrics`` returns it).
        factor_names: the K factor names.
    """
    mi = np.asarray(mi_matrix, dtype=float).T  # (K, D)
    k, d = mi.shape
    figure = Figure(figsize=(1.2 + 0.55 * d, 1.0 + 0.45 * k), dpi=plots.DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    shown = axes.imshow(mi, cmap="viridis", vmin=0, vmax=max(1e-9, float(mi.max())), aspect="auto")
    axes.set_xticks(range(d), [f"z{j}" for j in range(d)], fontsize=8)
    axes.set_yticks(range(k), list(factor_names), fontsize=8)
    for (r, c), value in np.ndenumerate(mi):
        colour = "black" if value > 0.6 * mi.max() else "white"
        axes.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour)
    axes.set_title("mutual information / factor entropy", fontsize=9)
    figure.colorbar(shown, ax=axes, fraction=0.04)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=plots.DPI)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def draw_disentanglement_figures(
    model: nn.Module,
    prep: Preprocessing,
    start: Tensor,
    mi_matrix: np.ndarray | Sequence,
    factor_names: Sequence[str],
    out: str | Path,
) -> list[Path]:
    """``traversal_all.png`` (every latent, -2.5..2.5), ``traversal.gif`` and ``mi_heatmap.png`` in ``out``.

    Args:
        start: one raw example; traversals start from its posterior mean.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dims = list(range(model.latent_dim))
    x = prep.model_inputs(start.unsqueeze(0))[0]
    written = [save_mi_heatmap(out / "mi_heatmap.png", mi_matrix, factor_names)]
    if figures.is_image_model(model):
        written += figures.draw_traversal(model, prep, x, None, out / "traversal_all.png", dims, span=2.5, steps=9)
        written.append(save_traversal_gif(out / "traversal.gif", model, x, dims))
    return written
