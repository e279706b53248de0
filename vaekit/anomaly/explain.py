"""Explanations of anomaly scores: which features or pixels make an example anomalous, as arrays and PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.anomaly.preprocessing import IMAGE
from vaekit.io import atomic_write_bytes


@dataclass
class Explanation:
    """Per-value contributions to the anomaly scores of N examples.

    Attributes:
        scores: (N,) the anomaly scores.
        contributions: per-feature (N, D) or per-pixel contributions in the layout the data was
            given in ((N, H, W), (N, C, H, W) or (N, H, W, C)); larger = more anomalous.
        remainder: (N,) the part of the score no single value owns (the latent KL term).
        columns: feature names (DataFrames), if known.
        kind: "tabular" or "image".
    """

    scores: np.ndarray
    contributions: np.ndarray
    remainder: np.ndarray
    columns: list[str] | None
    kind: str

    def top_features(self, index: int, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` largest contributions of example ``index`` as (feature name, value) pairs."""
        row = self.contributions[index].reshape(-1)
        names = self.columns or [f"x{j}" for j in range(row.size)]
        order = np.argsort(row)[::-1][:n]
        return [(names[j], float(row[j])) for j in order]


def _pixel_map(contribution: np.ndarray) -> np.ndarray:
    """(H, W), (C, H, W) or (H, W, C) contributions -> (H, W), summed over channels."""
    if contribution.ndim == 2:
        return contribution
    channel_axis = 0 if contribution.shape[0] <= 4 and contribution.shape[-1] > 4 else -1
    return contribution.sum(axis=channel_axis)


def _display_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image in any of the accepted layouts -> (H, W) grey or (H, W, C) colour, scaled to [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        if image.shape[0] <= 4 and image.shape[-1] > 4:
            image = np.moveaxis(image, 0, -1)
        if image.shape[-1] == 1:
            image = image[..., 0]
    lo, hi = image.min(), image.max()
    image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return image, ("gray" if image.ndim == 2 else None)


def save_heatmap(image: np.ndarray, contribution: np.ndarray, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG with the image and, beside it, the per-pixel contributions laid over it.

    Args:
        image: one raw image ((H, W), (C, H, W) or (H, W, C)).
        contribution: its per-pixel contributions, same layout.
        path: the PNG to write.
        title: optional title (e.g. the score).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown, cmap = _display_image(image)
    heat = _pixel_map(np.asarray(contribution, dtype=np.float64))
    figure, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(shown, cmap=cmap)
    axes[0].set_title("input")
    axes[1].imshow(shown, cmap=cmap)
    overlay = axes[1].imshow(heat, cmap="inferno", alpha=0.6)
    axes[1].set_title("contribution")
    figure.colorbar(overlay, ax=axes[1], fraction=0.046)
    for axis in axes:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    return _write_png(figure, path)


def _write_png(figure: object, path: str | Path) -> Path:
    """Save a pyplot figure as a PNG through a temporary file and a rename, then close it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())  # creates the parent folder
    return path


def save_feature_plot(
    contribution: np.ndarray, path: str | Path, columns: Sequence[str] | None = None, top: int = 15, title: str = ""
) -> Path:
    """Write a PNG bar chart of the ``top`` largest per-feature contributions of one example."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    row = np.asarray(contribution, dtype=np.float64).reshape(-1)
    names = list(columns) if columns is not None else [f"x{j}" for j in range(row.size)]
    order = np.argsort(row)[::-1][:top][::-1]
    figure, axis = plt.subplots(figsize=(5, 0.3 * len(order) + 1))
    axis.barh([names[j] for j in order], row[order], color="tab:red")
    axis.set_xlabel("contribution to the anomaly score")
    if title:
        axis.set_title(title)
    return _write_png(figure, path)


def save_explanations(
    explanation: Explanation, data: np.ndarray, directory: str | Path, labels: Sequence[int] | None = None
) -> list[Path]:
    """Write one PNG per example: a heat map over the image, or a bar chart of the features.

    Args:
        explanation: from ``VAEDetector.explain(data)``.
        data: the raw examples that were explained (images are drawn under their heat maps).
        directory: output folder; files are named ``anomaly_<label>.png``.
        labels: a number per example for titles and file names, e.g. its row in the original
            file (default: 0, 1, 2, ...).
    """
    directory = Path(directory)
    labels = list(range(len(explanation.scores))) if labels is None else list(labels)
    paths = []
    for i, label in enumerate(labels):
        title = f"example {label}: score {explanation.scores[i]:.4g}"
        target = directory / f"anomaly_{label}.png"
        if explanation.kind == IMAGE:
            paths.append(save_heatmap(np.asarray(data[i]), explanation.contributions[i], target, title))
        else:
            paths.append(save_feature_plot(explanation.contributions[i], target, explanation.columns, title=title))
    return paths
