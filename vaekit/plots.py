"""PNG figures: image grids, side-by-side reconstructions, training curves and latent maps.

Drawing uses matplotlib's object interface (``Figure`` + Agg canvas) so no global pyplot state
or display is touched. Small images are upscaled with nearest neighbour so every pixel stays
a crisp square, and every file is written through a temporary file and a rename.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from vaekit.io import atomic_write_bytes

CELL_PIXELS = 56  # images are upscaled to at least this many pixels a side
PAD_VALUE = 0.5  # grey lines between cells
DPI = 100


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def is_image_shape(shape: Sequence[int]) -> bool:
    """Whether one example of this shape is drawn as an image: (C, H, W) with 1 or 3 channels."""
    return len(shape) == 3 and int(shape[0]) in (1, 3)


def tile(images: Tensor | np.ndarray, pad: int = 1) -> np.ndarray:
    """Tile a (R, K, C, H, W) array of values in [0, 1] into one (H', W', C) picture with grey lines
    between cells, upscaled by nearest neighbour so each cell is at least ``CELL_PIXELS`` wide."""
    grid = np.clip(_numpy(images), 0.0, 1.0)
    if grid.ndim != 5:
        raise ValueError(f"tile needs (rows, columns, C, H, W) images, got shape {grid.shape}")
    rows, cols, channels, height, width = grid.shape
    scale = max(1, math.ceil(CELL_PIXELS / max(height, width)))
    grid = grid.repeat(scale, axis=3).repeat(scale, axis=4)  # (R, K, C, sH, sW)
    h, w = height * scale, width * scale
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, channels), PAD_VALUE, dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            out[top : top + h, left : left + w] = grid[r, c].transpose(1, 2, 0)
    return out


def as_rows(images: Tensor | np.ndarray, columns: int) -> np.ndarray:
    """(N, C, H, W) -> (ceil(N / columns), columns, C, H, W), blank cells filled with the pad grey."""
    flat = _numpy(images)
    n = flat.shape[0]
    rows = max(1, math.ceil(n / columns))
    out = np.full((rows * columns, *flat.shape[1:]), PAD_VALUE, dtype=np.float32)
    out[:n] = flat
    return out.reshape(rows, columns, *flat.shape[1:])


def _save(figure: Figure, path: str | Path) -> Path:
    """Write the figure in the format its file name asks for (PNG when it has no suffix)."""
    path = Path(path)
    buffer = io.BytesIO()
    canvas = FigureCanvasAgg(figure)
    kind = path.suffix.lower().lstrip(".") or "png"
    if kind not in canvas.get_supported_filetypes():
        raise ValueError(f"cannot write a .{kind} picture: {path}; valid: {sorted(canvas.get_supported_filetypes())}")
    figure.savefig(buffer, format=kind, dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _image_axes(figure: Figure, picture: np.ndarray, rect: tuple[float, float, float, float]):
    axes = figure.add_axes(rect)
    if picture.shape[-1] == 1:
        axes.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axes.imshow(picture, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    return axes


def save_image_rows(
    path: str | Path,
    images: Tensor | np.ndarray,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    panel_titles: Sequence[str] | None = None,
) -> Path:
    """Save one or more panels of image rows, each (R, K, C, H, W) in [0, 1], side by side.

    Args:
        path: the PNG file.
        images: one (R, K, C, H, W) array, or a list of panels of equal shape.
        title: figure title.
        row_labels: a label left of each row (e.g. "z3").
        column_labels: a label under each column (e.g. traversal values).
        panel_titles: a title above each panel (e.g. "original", "reconstruction").
    """
    panels = [_numpy(p) for p in images] if isinstance(images, (list, tuple)) else [_numpy(images)]
    pictures = [tile(p) for p in panels]
    rows, cols = panels[0].shape[:2]
    ph, pw = pictures[0].shape[:2]
    left = 16 + 7 * max(len(str(label)) for label in row_labels) if row_labels else 12  # ~7 px a character
    bottom = 30 if column_labels else 12
    top = 40 + (22 if panel_titles else 0)
    gap = 24
    width = left + len(pictures) * pw + (len(pictures) - 1) * gap + 12
    height = top + ph + bottom
    # Wrap the title to the figure's width (about 9 pixels a character at this font size).
    lines = textwrap.wrap(title, max(20, int((width - 20) / 9)))
    top += 18 * (len(lines) - 1)
    height = top + ph + bottom
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    figure.suptitle("\n".join(lines), y=1 - 10 / height, va="top", fontsize=12)
    for i, picture in enumerate(pictures):
        x0 = left + i * (pw + gap)
        axes = _image_axes(figure, picture, (x0 / width, bottom / height, pw / width, ph / height))
        if panel_titles:
            axes.set_title(panel_titles[i], fontsize=10)
        cell_h, cell_w = (ph - 1) / rows, (pw - 1) / cols
        if row_labels and i == 0:
            axes.set_yticks([1 + cell_h * (r + 0.5) for r in range(rows)], list(row_labels), fontsize=9)
            axes.tick_params(axis="y", length=0)
        if column_labels:
            axes.set_xticks([1 + cell_w * (c + 0.5) for c in range(cols)], list(column_labels), fontsize=8)
            axes.tick_params(axis="x", length=0)
    return _save(figure, path)


def save_image_grid(path: str | Path, images: Tensor | np.ndarray, title: str, columns: int = 10) -> Path:
    """Save (N, C, H, W) images in [0, 1] as a grid ``columns`` wide."""
    return save_image_rows(path, as_rows(images, columns), title)


def save_vector_rows(
    path: str | Path,
    panels: Sequence[Tensor | np.ndarray],
    title: str,
    panel_titles: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    row_label: str = "example",
) -> Path:
    """Non-image data: each panel (N, D) drawn as a heat map, one row per example, one column per feature."""
    arrays = [_numpy(p).reshape(len(p), -1) for p in panels]
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    n, d = arrays[0].shape
    figure = Figure(figsize=(min(16, 2 + 3.2 * len(arrays) + 0.08 * d), min(12, 2 + 0.18 * n)), dpi=DPI)
    figure.suptitle(title, fontsize=12)
    axes_list = figure.subplots(1, len(arrays), squeeze=False)[0]
    image = None
    for i, (axes, array) in enumerate(zip(axes_list, arrays)):
        image = axes.imshow(array, aspect="auto", cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        axes.set_xlabel("feature")
        axes.set_ylabel(row_label if i == 0 else "")
        if panel_titles:
            axes.set_title(panel_titles[i], fontsize=10)
        if feature_names is not None and d <= 30:
            axes.set_xticks(range(d), list(feature_names), rotation=90, fontsize=7)
    if image is not None:
        figure.colorbar(image, ax=list(axes_list), shrink=0.8)
    return _save(figure, path)


def save_training_curves(
    path: str | Path, train: Sequence[dict[str, float]], validation: Sequence[dict[str, float]] = ()
) -> Path:
    """One panel per logged term (loss, reconstruction, KL, ...), training and validation per epoch.

    Args:
        train: per-epoch dictionaries of the training terms (``History.train``).
        validation: the same for validation (``History.validation``), possibly empty.
    """
    keys = [k for k in (train[0] if train else {}) if isinstance(train[0][k], (int, float))]
    skip = {"epoch", "step", "time", "seconds", "lr", "samples_per_second"}
    keys = [k for k in keys if k not in skip and not all(r.get(k) == train[0][k] for r in train)] or keys[:1]
    if "loss" in keys:  # the ELBO is often just the negated loss: one panel is enough
        keys = [k for k in keys if k == "loss" or not all(r.get(k) == -r["loss"] for r in train)]
    n = max(1, len(keys))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    figure = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.6), dpi=DPI, layout="constrained")
    figure.suptitle("training curves", fontsize=12)
    grid = figure.subplots(rows, cols, squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(keys):
            axes.set_visible(False)
            continue
        key = keys[index]
        epochs = range(1, len(train) + 1)
        axes.plot(epochs, [r.get(key, float("nan")) for r in train], label="train")
        val = [r.get(key, float("nan")) for r in validation]
        if validation and any(v == v for v in val):  # v == v is False for NaN
            axes.plot(range(1, len(validation) + 1), val, label="validation")
        axes.set_title(key, fontsize=10)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _save(figure, path)


def project_2d(means: Tensor | np.ndarray) -> tuple[np.ndarray, str]:
    """(N, D) latent means -> (N, 2) points: the means themselves for D <= 2, else their first two
    principal components. Also returns the axis-label stem ("z" or "PC")."""
    points = _numpy(means)
    if points.shape[1] == 1:
        return np.concatenate([points, np.zeros_like(points)], axis=1), "z"
    if points.shape[1] == 2:
        return points, "z"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(points), "PC"


def save_latent_map(
    path: str | Path,
    means: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "latent space",
) -> Path:
    """Scatter the latent means in 2-D (PCA when the latent has more than 2 dimensions), coloured by label."""
    points, stem = project_2d(means)
    figure = Figure(figsize=(7.5, 6), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=8, alpha=0.7)
    else:
        values = _numpy(labels).astype(int)
        classes = sorted(set(values.tolist()))
        colours = _class_colours(len(classes))
        for colour, label in zip(colours, classes):
            pick = values == label
            name = class_names[label] if class_names is not None and label < len(class_names) else str(label)
            axes.scatter(points[pick, 0], points[pick, 1], s=8, alpha=0.75, color=colour, label=name)
        axes.legend(markerscale=2.5, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if stem == "PC":
        title += f" (PCA of {_numpy(means).shape[1]}-D latent means)"
    axes.set_title(title, fontsize=12)
    axes.set_xlabel(f"{stem}1")
    axes.set_ylabel(f"{stem}2")
    axes.grid(alpha=0.3)
    return _save(figure, path)


def _class_colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "viridis"]
    return [cmap(i if n <= 20 else i / max(1, n - 1)) for i in range(n)]


def images_in_unit_range(x: Tensor) -> Tensor:
    """Model outputs as images in [0, 1] (clamped), on the CPU."""
    return torch.as_tensor(x).detach().float().cpu().clamp(0, 1)
