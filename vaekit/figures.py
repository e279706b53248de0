"""Figures of a trained model: samples, reconstructions, interpolations, traversals, latent maps.

Each function uses only the generic model interface (``sample``, ``reconstruct``, ``encode``,
``decode``, ``data_shape``, ``latent_dim``, ``conditioner``) and :mod:`vaekit.generate`, and writes
a PNG; for non-image data it also writes the values, in the data's own units, as ``.npy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vaekit import generate, plots
from vaekit.data.preprocess import Preprocessing
from vaekit.io import atomic_write_bytes


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _save_npy(path: Path, array: Tensor) -> Path:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array.detach().cpu().numpy(), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def is_image_model(model: nn.Module) -> bool:
    """Whether the model's examples are drawn as images."""
    return plots.is_image_shape(model.data_shape)


def _class_name(prep: Preprocessing, label: int) -> str:
    names = prep.class_names
    return names[label] if names is not None and 0 <= label < len(names) else str(label)


def _write(
    path: Path,
    panels: list[Tensor],
    title: str,
    model: nn.Module,
    prep: Preprocessing,
    panel_titles: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
) -> list[Path]:
    """Panels of shape (R, K, *data_shape): images as a PNG grid; other data as a heat map PNG + .npy."""
    if is_image_model(model):
        images = [plots.images_in_unit_range(p) for p in panels]
        return [plots.save_image_rows(path, images, title, row_labels, column_labels, panel_titles)]
    flat = [p.detach().cpu().reshape(-1, *model.data_shape) for p in panels]
    raw = [prep.to_raw(p) for p in flat]
    written = [path.with_suffix(".npy")]
    _save_npy(written[0], raw[0] if len(raw) == 1 else torch.stack(raw))
    written.append(plots.save_vector_rows(path, flat, title, panel_titles, prep.columns))
    return written


def draw_samples(
    model: nn.Module,
    prep: Preprocessing,
    path: str | Path,
    n: int = 100,
    temperature: float = 1.0,
    label: int | None = None,
    seed: int = 0,
    columns: int = 10,
) -> list[Path]:
    """Samples from the prior, decoded. A conditional model draws one row per class unless ``label`` is given."""
    path = Path(path)
    torch.manual_seed(seed)
    rows = max(1, -(-n // columns))
    row_labels = None
    y = None
    if model.conditioner is not None:
        n_classes = getattr(model.conditioner, "n_classes", None)
        if label is not None:
            y = torch.full((n,), int(label), dtype=torch.int64)
            title = f"samples of class {_class_name(prep, int(label))} (temperature {temperature:g})"
        elif n_classes is not None:
            rows = min(n_classes, rows)
            y = torch.arange(rows).repeat_interleave(columns)
            n = len(y)
            row_labels = [_class_name(prep, i) for i in range(rows)]
            title = f"samples, one row per class (temperature {temperature:g})"
        else:
            raise ValueError("this model is conditioned on attribute vectors; sampling it needs them")
    else:
        if label is not None:
            raise ValueError("--label needs a conditional model (trained with model.conditional=true)")
        title = f"samples from the prior (temperature {temperature:g})"
    y = None if y is None else y.to(_device(model))
    x = model.sample(n, temperature=temperature, y=y).detach().cpu()
    grid = torch.full((rows * columns, *x.shape[1:]), plots.PAD_VALUE) if is_image_model(model) else None
    if grid is not None:
        grid[: len(x)] = x[: rows * columns]
        x = grid
    else:
        columns = 1
    return _write(path, [x.reshape(-1, columns, *model.data_shape)], title, model, prep, row_labels=row_labels)


def draw_reconstructions(
    model: nn.Module, prep: Preprocessing, x: Tensor, y: Tensor | None, path: str | Path, columns: int = 8
) -> list[Path]:
    """Originals beside their reconstructions (decoded posterior means). ``x`` is model input."""
    device = _device(model)
    n = len(x)
    recon = model.reconstruct(x.to(device), None if y is None else y.to(device)).detach().cpu()
    if is_image_model(model):
        cols = min(columns, n)
        rows = max(1, n // cols)
        x, recon = x[: rows * cols], recon[: rows * cols]
        shape = (rows, cols, *model.data_shape)
        return _write(
            Path(path),
            [x.reshape(shape), recon.reshape(shape)],
            "reconstructions beside originals (same positions)",
            model,
            prep,
            panel_titles=["original", "reconstruction"],
        )
    return _write(
        Path(path),
        [x.reshape(n, 1, *model.data_shape), recon.reshape(n, 1, *model.data_shape)],
        "reconstructions beside originals",
        model,
        prep,
        panel_titles=["original", "reconstruction"],
    )


def draw_interpolations(
    model: nn.Module,
    prep: Preprocessing,
    x: Tensor,
    y: Tensor | None,
    path: str | Path,
    pairs: int = 6,
    steps: int = 10,
    method: str = "lerp",
    seed: int = 0,
    labels: Tensor | None = None,
) -> list[Path]:
    """Decoded interpolations between the latent means of random pairs of examples (one row per pair).

    ``y`` conditions a conditional model; ``labels`` (default ``y``) only name the rows.
    """
    labels = y if labels is None else labels
    gen = torch.Generator().manual_seed(seed)
    device = _device(model)
    rows, names = [], []
    for _ in range(pairs):
        i, j = torch.randperm(len(x), generator=gen)[:2].tolist() if len(x) > 1 else (0, 0)
        # A conditional model decodes the whole row with the first example's label.
        yi = None if y is None else y[i : i + 1].to(device)
        rows.append(generate.interpolate(model, x[i].to(device), x[j].to(device), steps, method, y=yi).cpu())
        if labels is not None:
            names.append(f"{_class_name(prep, int(labels[i]))}→{_class_name(prep, int(labels[j]))}")
    columns = ["start"] + [""] * (steps - 2) + ["end"]
    title = f"interpolation between pairs of test examples ({method})"
    return _write(Path(path), [torch.stack(rows)], title, model, prep, row_labels=names or None, column_labels=columns)


def most_active_dims(model: nn.Module, x: Tensor, y: Tensor | None, count: int = 8) -> list[int]:
    """The ``count`` latent dimensions whose posterior means vary most over ``x``, most active first."""
    device = _device(model)
    means = model.encode(x.to(device), None if y is None else y.to(device)).mean.detach().cpu()
    order = means.var(0).argsort(descending=True)
    return sorted(order[: min(count, model.latent_dim)].tolist(), key=lambda d: -float(means[:, d].var()))


def draw_traversal(
    model: nn.Module,
    prep: Preprocessing,
    start: Tensor,
    y: Tensor | None,
    path: str | Path,
    dims: Sequence[int],
    span: float = 3.0,
    steps: int = 9,
) -> list[Path]:
    """Vary each latent dimension in ``dims`` from -span to span around ``start`` (an input, or a latent)."""
    device = _device(model)
    values = torch.linspace(-span, span, steps)
    grid = generate.traverse(model, start.to(device), list(dims), values, y=None if y is None else y.to(device))
    title = "latent traversal: each row varies one latent dimension, the others stay at an example's mean"
    return _write(
        Path(path),
        [grid.cpu()],
        title,
        model,
        prep,
        row_labels=[f"z{d}" for d in dims],
        column_labels=[f"{v:+.1f}" for v in values.tolist()],
    )


def draw_latent_map(
    model: nn.Module, prep: Preprocessing, x: Tensor, y: Tensor | None, path: str | Path, batch_size: int = 1000
) -> list[Path]:
    """Latent means of ``x`` in 2-D (PCA beyond 2 dimensions), coloured by label when there are labels."""
    device = _device(model)
    condition = y if model.conditioner is not None else None
    means = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = None if condition is None else condition[start : start + batch_size].to(device)
            means.append(model.encode(xb, yb).mean.detach().cpu())
    return [plots.save_latent_map(path, torch.cat(means), y, prep.class_names)]
