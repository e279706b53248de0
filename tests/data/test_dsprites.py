"""The procedural dSprites renderer reproduces each factor's effect; labelled data keeps its factors."""

import numpy as np
import pytest
import torch

from vaekit.data import DSprites, LabelledExamples, load_dataset, load_dsprites
from vaekit.data.dsprites import (
    FACTOR_SIZES,
    N_IMAGES,
    STEP,
    centre_pixels,
    factors_to_index,
    index_to_factors,
    render,
)


def _centroid(image: torch.Tensor) -> tuple[float, float]:
    """(column, row) centroid of a (1, H, W) binary image."""
    mask = image[0].double()
    rows, cols = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    return float((mask * cols).sum() / mask.sum()), float((mask * rows).sum() / mask.sum())


def test_index_round_trip_covers_all_737280_images():
    assert N_IMAGES == 737_280
    index = np.array([0, 1, 12345, N_IMAGES - 1])
    factors = index_to_factors(index)
    assert (factors_to_index(factors) == index).all()
    assert (index_to_factors(np.array([N_IMAGES - 1])) == np.array(FACTOR_SIZES) - 1).all()


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_x_and_y_shifts_move_the_centroid_by_the_expected_pixels(shape):
    base = np.array([[shape, 5, 3, 8, 8]])
    moved_x, moved_y = base.copy(), base.copy()
    moved_x[0, 3] += 4
    moved_y[0, 4] += 8
    images = render(np.concatenate([base, moved_x, moved_y]))
    (x0, y0), (x1, y1), (x2, y2) = (_centroid(i) for i in images)
    # Four position steps of 1.25 pixels are exactly 5 pixels: the same sprite, shifted.
    assert x1 - x0 == pytest.approx(4 * STEP, abs=1e-9) and y1 == pytest.approx(y0, abs=1e-9)
    assert y2 - y0 == pytest.approx(8 * STEP, abs=1e-9) and x2 == pytest.approx(x0, abs=1e-9)
    assert torch.equal(images[1, :, :, 5:], images[0, :, :, :-5])
    # The centroid of the symmetric square and ellipse is the sprite centre itself.
    if shape < 2:
        assert x0 == pytest.approx(float(centre_pixels(8 / 31)), abs=0.25)  # up to pixelation


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_scale_changes_the_area_by_the_square_of_the_ratio(shape):
    factors = np.array([[shape, s, 0, 16, 16] for s in range(6)])
    area = render(factors).double().sum((1, 2, 3))
    scales = np.linspace(0.5, 1.0, 6)
    expected = area[-1] * torch.tensor(scales / scales[-1]) ** 2
    # Scale 1 against scale 0.5: four times the area; between them, up to the pixelation of edges.
    assert float(area[-1] / area[0]) == pytest.approx(4.0, rel=0.05)
    assert torch.allclose(area, expected, rtol=0.15)
    assert (area[1:] > area[:-1]).all()


def test_shapes_have_their_areas_and_rotation_keeps_the_area():
    # Scale 1: a square of side 16 px, an ellipse of semi-axes 10 and 5 px (area 50 pi).
    square, ellipse = render(np.array([[0, 5, 0, 16, 16], [1, 5, 0, 16, 16]])).double().sum((1, 2, 3))
    assert square == 256
    assert ellipse == pytest.approx(50 * np.pi, rel=0.03)
    turned = render(np.array([[s, 5, o, 16, 16] for s in range(3) for o in (0, 7, 13)])).double().sum((1, 2, 3))
    assert torch.allclose(turned.view(3, 3), turned.view(3, 3)[:, :1].expand(3, 3), rtol=0.05)
    # A quarter turn of the ellipse swaps its axes.
    quarter = np.argmin(np.abs(np.linspace(0, 2 * np.pi, 40) - np.pi / 2))
    flat, upright = render(np.array([[1, 5, 0, 16, 16], [1, 5, quarter, 16, 16]]))
    width = lambda image: int(image[0].any(0).sum())  # noqa: E731
    assert width(flat) > 18 and width(upright) < 12


def test_render_rejects_bad_factors():
    with pytest.raises(ValueError, match="0..size-1"):
        render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="shape"):
        render(np.zeros((2, 4), dtype=int))


def test_colour_variant_paints_the_sprite_on_noise():
    rng = np.random.default_rng(0)
    data = DSprites("colour")
    factors, images = data.sample(8, rng)
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.uint8
    mask = render(factors).bool().expand(-1, 3, -1, -1)
    assert (images[mask] >= 127).all()
    assert images[~mask].float().std() > 50  # uniform noise has sd 255 / sqrt(12) = 74


def test_sample_fixed_holds_the_factor():
    rng = np.random.default_rng(0)
    factors, images = DSprites().sample_fixed(np.array([3, 3, 1]), np.array([7, 7, 2]), rng)
    assert factors[0, 3] == 7 and factors[1, 3] == 7 and factors[2, 1] == 2
    assert torch.equal(images, render(factors))


def test_builtin_dataset_has_disjoint_splits_with_factors():
    dataset = load_dsprites(n_train=300, n_validation=50, n_test=50, seed=3)
    assert dataset.data_shape == (1, 64, 64) and dataset.levels == 2
    assert dataset.factor_names == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    index = [factors_to_index(s.factors.numpy()) for s in (dataset.train, dataset.validation, dataset.test)]
    assert len(np.unique(np.concatenate(index))) == 400
    assert torch.equal(dataset.test.x, render(dataset.test.factors.numpy()))
    assert len(load_dataset("dsprites", limit=20).train.factors) == 20
    colour = load_dsprites("colour", n_train=10, n_validation=2, n_test=2)
    assert colour.name == "dsprites-colour" and colour.data_shape == (3, 64, 64) and colour.levels == 256


def test_npz_with_factors_becomes_labelled_data(tmp_path):
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(200, 2))
    x = (factors[:, :1] * 10 + rng.normal(size=(200, 3))).astype(np.float32)
    path = tmp_path / "toy.npz"
    np.savez(path, x=x, factors=factors)
    dataset = load_dataset(path=str(path), validation=0.1, test=0.1)
    assert dataset.factor_names == ["factor_0", "factor_1"]
    assert dataset.train.factors.shape == (160, 2)
    ground = LabelledExamples(dataset.train.x, dataset.train.factors, dataset.factor_names)
    got, xs = ground.sample_fixed(1, np.array([2, 2, 3]), rng)
    assert (got[:, 1] == [2, 2, 3]).all() and xs.shape == (3, 3)
