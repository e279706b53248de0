"""Plots: exact nearest-neighbour tiling, PNG files of sensible size, PCA latent maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit import plots


def test_tile_upscales_by_nearest_neighbour_with_grey_lines():
    images = torch.zeros(2, 3, 1, 8, 8)
    images[1, 2, 0, 3, 5] = 1.0  # one white pixel in the last cell
    picture = plots.tile(images, pad=1)
    scale = plots.CELL_PIXELS // 8  # 7
    h = 8 * scale
    assert picture.shape == (2 * (h + 1) + 1, 3 * (h + 1) + 1, 1)
    assert picture[0, 0, 0] == plots.PAD_VALUE  # border
    top, left = 1 + (h + 1), 1 + 2 * (h + 1)
    block = picture[top + 3 * scale : top + 4 * scale, left + 5 * scale : left + 6 * scale, 0]
    assert np.all(block == 1.0) and block.shape == (scale, scale)
    assert picture[top : top + h, left : left + h].sum() == scale * scale


def test_as_rows_pads_the_last_row():
    rows = plots.as_rows(torch.ones(7, 1, 2, 2), columns=3)
    assert rows.shape == (3, 3, 1, 2, 2)
    assert np.all(rows[2, 1:] == plots.PAD_VALUE) and np.all(rows[2, 0] == 1)


def test_image_grid_png_is_written_atomically_at_a_readable_size(tmp_path):
    path = plots.save_image_grid(tmp_path / "g.png", torch.rand(30, 1, 8, 8), "a title", columns=10)
    width, height = Image.open(path).size
    assert width >= 10 * plots.CELL_PIXELS and height >= 3 * plots.CELL_PIXELS
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left behind
    rgb = plots.save_image_rows(
        tmp_path / "r.png", [torch.rand(2, 4, 3, 5, 5)] * 2, "t", ["a", "b"], list("wxyz"), ["left", "right"]
    )
    assert Image.open(rgb).size[0] > 2 * Image.open(rgb).size[1] > 0


def test_tile_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="rows, columns"):
        plots.tile(torch.rand(4, 1, 8, 8))


def test_project_2d_finds_the_principal_plane():
    gen = torch.Generator().manual_seed(0)
    latent = torch.zeros(400, 5)
    latent[:, 1] = torch.randn(400, generator=gen) * 10  # largest spread on dim 1
    latent[:, 3] = torch.randn(400, generator=gen) * 3  # second on dim 3
    latent += 0.01 * torch.randn(400, 5, generator=gen)
    points, stem = plots.project_2d(latent)
    assert stem == "PC" and points.shape == (400, 2)
    assert abs(np.corrcoef(points[:, 0], latent[:, 1])[0, 1]) > 0.99
    assert abs(np.corrcoef(points[:, 1], latent[:, 3])[0, 1]) > 0.99
    same, stem = plots.project_2d(latent[:, :2])
    assert stem == "z" and np.allclose(same, latent[:, :2].numpy())


def test_latent_map_curves_and_vectors_write_pngs(tmp_path):
    means = torch.randn(50, 3)
    labels = torch.arange(50) % 4
    assert plots.save_latent_map(tmp_path / "m.png", means, labels, ["a", "b", "c", "d"]).stat().st_size > 0
    train = [{"loss": 3.0 - e, "kl": 1.0 + e} for e in range(4)]
    validation = [{"loss": float("nan"), "kl": 1.0}] * 4
    assert plots.save_training_curves(tmp_path / "c.png", train, validation).is_file()
    assert plots.save_vector_rows(tmp_path / "v.png", [torch.randn(6, 4)] * 2, "t", ["a", "b"]).is_file()
