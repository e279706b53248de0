"""The feature classifier's shapes and training recipe, and the Fréchet distance's input checks, on tiny cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vaekit.evaluate import frechet_distance, train_feature_classifier
from vaekit.evaluate.quality import FeatureClassifier, gaussian_frechet_distance


def test_feature_classifier_halves_the_resolution_twice_and_has_the_documented_sizes():
    """3x3 convolutions (padding 1; strides 1, 2, 2): 28 -> 28 -> 14 -> 7, widths 32, 64, 64, then 128 features."""
    model = FeatureClassifier(in_channels=2, n_classes=5)
    x = torch.rand(3, 2, 28, 28)
    shapes = []
    for layer in model.body:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 28, 28), (64, 14, 14), (64, 7, 7)]
    kinds = [type(layer).__name__ for layer in model.body]
    assert kinds == ["Conv2d", "ReLU"] * 3 + ["AdaptiveAvgPool2d", "Flatten", "Linear", "ReLU"]
    assert (model.features(torch.rand(3, 2, 28, 28)) >= 0).all()  # features after a ReLU
    assert x.shape == (3, 128) and model.feature_dim == 128
    conv = 2 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 64 * 9 + 64
    linear = 64 * 16 * 128 + 128 + 128 * 5 + 5
    assert sum(p.numel() for p in model.parameters()) == conv + linear


def test_features_of_single_channel_images_accept_a_missing_channel_axis():
    torch.manual_seed(0)
    model = FeatureClassifier(in_channels=1, n_classes=3).eval()
    x = torch.rand(4, 8, 8)
    torch.testing.assert_close(model.features(x), model.features(x[:, None]))
    with pytest.raises(ValueError):
        model.features(torch.rand(4, 64))


def _data(n: int = 20, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.arange(n) % classes


def _reference_training(x, y, epochs, seed, batch_size, lr):
    """The documented recipe written out: seeded init, Adam, seeded shuffles, minibatches covering every example."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(1, int(y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def test_training_follows_the_recipe_exactly():
    x, y = _data()
    model = train_feature_classifier(x, y, epochs=2, seed=3, batch_size=8, lr=1e-2)
    reference = _reference_training(x, y, epochs=2, seed=3, batch_size=8, lr=1e-2)
    assert not model.training and model.head.out_features == 3
    for (name, got), want in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want, msg=name)


def test_training_with_zero_learning_rate_keeps_the_seeded_initialisation():
    x, y = _data(n=6)
    model = train_feature_classifier(x, y, epochs=1, seed=5, lr=0.0)
    torch.manual_seed(5)
    init = FeatureClassifier(1, 3)
    for got, want in zip(model.state_dict().values(), init.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want)


def test_training_defaults_are_five_epochs_seed_0_batches_of_128_and_lr_1e_3():
    x, y = _data(n=130)
    default = train_feature_classifier(x, y)
    explicit = train_feature_classifier(x, y, epochs=5, seed=0, batch_size=128, lr=1e-3)
    for got, want in zip(default.state_dict().values(), explicit.state_dict().values(), strict=True):
        torch.testing.assert_close(got, want)
    reference = _reference_training(x, y, epochs=5, seed=0, batch_size=128, lr=1e-3)
    torch.testing.assert_close(default.head.weight, reference.head.weight)


@pytest.mark.parametrize("low, high", [(-0.5, 0.5), (0.5, 1.5)])
def test_training_rejects_images_outside_0_1(low, high):
    x, y = _data(n=4)
    with pytest.raises(ValueError):
        train_feature_classifier(x * (high - low) + low, y, epochs=1)
    with pytest.raises(ValueError):
        train_feature_classifier(x, y[:3], epochs=1)


class _Flatten(nn.Module):
    """A stand-in classifier whose features are the first two pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :2]


def test_frechet_distance_needs_two_images_per_set_and_equal_shapes():
    classifier = _Flatten()
    real = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])[:, None, None, :]  # (3, 1, 1, 2)
    generated = torch.tensor([[0.0, 0.5], [1.0, 0.5]])[:, None, None, :]  # (2, 1, 1, 2)
    # real: mean (1/3, 1/3), cov [[1/3, -1/6], [-1/6, 1/3]]; generated: mean (1/2, 1/2), cov [[1/2, 0], [0, 0]]
    cov1 = np.array([[1 / 3, -1 / 6], [-1 / 6, 1 / 3]])
    cov2 = np.array([[0.5, 0.0], [0.0, 0.0]])
    root = np.sqrt(np.linalg.eigvals(cov1 @ cov2).real.clip(0)).sum()  # Tr (S1 S2)^(1/2)
    expected = 2 * (1 / 6) ** 2 + np.trace(cov1) + np.trace(cov2) - 2 * root
    assert frechet_distance(classifier, real, generated) == pytest.approx(expected, abs=1e-6)
    assert np.isfinite(frechet_distance(classifier, real[:2], generated))  # two images each suffice
    for a, b in ((real[:1], generated), (real, generated[:1])):
        with pytest.raises(ValueError):
            frechet_distance(classifier, a, b)
    with pytest.raises(ValueError):
        frechet_distance(classifier, real, torch.zeros(2, 1, 2, 1))


def test_gaussian_frechet_distance_regularises_a_product_without_a_square_root():
    """Two-sample covariances whose product has no finite scipy square root: both get 1e-6 I, and the distance is
    the closed form with Tr((S1 + eps I)(S2 + eps I))^(1/2) from eigenvalues, slightly below the singular limit."""
    a = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    b = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    cov1, cov2 = np.cov(a.T), np.cov(b.T)
    eps = 1e-6 * np.eye(3)
    root = np.sqrt(np.linalg.eigvals((cov1 + eps) @ (cov2 + eps)).real.clip(0)).sum()
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * root
    got = gaussian_frechet_distance(a.mean(0), cov1, b.mean(0), cov2)
    assert got == pytest.approx(expected, abs=1e-10)
    assert 0.75 - got > 5e-6  # the offset's own effect, far above the tolerance
