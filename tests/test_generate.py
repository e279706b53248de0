"""Interpolation, traversal and attribute vectors."""

import pytest
import torch

from vaekit.generate import apply_attribute, attribute_vector, interpolate, interpolate_latents, traverse
from vaekit.models import build_vae


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_vae([6], latent_dim=3, hidden=(8,)).eval()


def test_lerp_and_slerp_endpoints_and_norms():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    line = interpolate_latents(a, b, 5, "lerp")
    torch.testing.assert_close(line[0], a)
    torch.testing.assert_close(line[-1], b)
    torch.testing.assert_close(line[2], torch.tensor([0.5, 0.5, 0.0]))
    arc = interpolate_latents(a, b, 5, "slerp")
    torch.testing.assert_close(arc.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(arc[-1], b)
    with pytest.raises(ValueError, match="unknown interpolation"):
        interpolate_latents(a, b, 3, "cubic")


def test_interpolate_decodes_between_inputs(model):
    x = torch.rand(2, 6)
    frames = interpolate(model, x[0], x[1], steps=4)
    assert frames.shape == (4, 6)
    torch.testing.assert_close(frames[0], model.reconstruct(x[:1])[0])
    torch.testing.assert_close(frames[-1], model.reconstruct(x[1:])[0])


def test_traverse_varies_one_dimension(model):
    z0 = torch.tensor([0.3, -0.2, 0.1])
    grid = traverse(model, z0, [0, 2], values=[-1.0, 0.0, 1.0])
    assert grid.shape == (2, 3, 6)
    expected = model.decode(torch.tensor([[0.3, -0.2, 1.0]])).mean[0]
    torch.testing.assert_close(grid[1, 2], expected)
    with pytest.raises(ValueError, match="out of range"):
        traverse(model, z0, 3)


def test_attribute_vector_recovers_a_planted_direction(model):
    torch.manual_seed(0)
    x = torch.rand(40, 6)
    has = torch.arange(40) % 2 == 0
    mu = model.encode(x).mean
    vector = attribute_vector(model, x, has)
    torch.testing.assert_close(vector, mu[has].mean(0) - mu[~has].mean(0))
    edited = apply_attribute(model, x[:2], vector, strength=[0.0, 1.0])
    assert edited.shape == (2, 2, 6)
    torch.testing.assert_close(edited[0], model.reconstruct(x[:2]))
    with pytest.raises(ValueError, match="both with and without"):
        attribute_vector(model, x, torch.ones(40, dtype=torch.bool))
