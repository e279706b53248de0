"""Sample quality: a Fréchet distance between real and generated images in the feature space
of a small classifier trained on the same data (the FID recipe of Heusel et al. 2017, with a
dataset-specific classifier in place of Inception, which does not fit 8x8 or 28x28 grey images).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn


class FeatureClassifier(nn.Module):
    """A small convolutional classifier for images in [0, 1] of any size.

    ``features(x)`` gives the penultimate activations, (N, feature_dim), used for the distance.

    Args:
        in_channels: image channels.
        n_classes: number of classes.
        width: channels of the first convolution (the second has twice as many).
        feature_dim: width of the penultimate layer.
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            # Pooling to a fixed 4x4 grid makes the classifier independent of the image size.
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, n_classes)
        self.feature_dim = feature_dim

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features of images (N, C, H, W) in [0, 1]: (N, feature_dim)."""
        return self.body(_as_images(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, n_classes) logits


def _as_images(x: Tensor) -> Tensor:
    if x.dim() == 3:  # (N, H, W): one channel
        x = x.unsqueeze(1)
    if x.dim() != 4:
        msg = f"expected images (N, C, H, W) or (N, H, W), got {tuple(x.shape)}"  # pragma: no mutate (message text)
        raise ValueError(msg)  # pragma: no mutate (message text)
    return x.float()


def train_feature_classifier(
    x: Tensor, y: Tensor, epochs: int = 5, seed: int = 0, batch_size: int = 128, lr: float = 1e-3
) -> nn.Module:
    """Train a :class:`FeatureClassifier` on labelled images.

    Args:
        x: images in [0, 1], (N, C, H, W) (or (N, H, W) for one channel).
        y: integer labels, (N,).
        epochs: passes over the data.
        seed: seed of the initialization and the batch order.
        batch_size: examples per step.
        lr: Adam learning rate.

    Returns:
        The trained classifier in eval mode, with ``.features(x) -> (N, F)``.
    """
    x = _as_images(x)
    if x.min() < 0 or x.max() > 1:
        raise ValueError("train_feature_classifier expects images scaled to [0, 1]")  # pragma: no mutate (message text)
    y = y.long()
    if y.shape != (x.shape[0],):
        msg = f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}"  # pragma: no mutate (message text)
        raise ValueError(msg)  # pragma: no mutate (message text)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # pragma: no mutate (device list: equivalent on CPU)
        torch.manual_seed(seed)
        model = FeatureClassifier(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)  # pragma: no mutate (equivalent: zero or no gradient, same step)
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def _features(classifier: nn.Module, x: Tensor, batch_size: int) -> np.ndarray:
    device = next(classifier.parameters()).device
    parts = [classifier.features(x[i : i + batch_size].to(device)).double().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()


def gaussian_frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)): the squared 2-Wasserstein distance of two Gaussians."""
    from scipy import linalg

    with warnings.catch_warnings():
        # Feature covariances are often rank-deficient; the regularized retry below handles that.
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # Nearly singular product: regularize both covariances slightly, as the FID reference does.
        offset = np.eye(len(cov1)) * 1e-6
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = np.real(covmean)  # imaginary parts are numerical noise
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def frechet_distance(
    classifier: nn.Module,
    real: Tensor,
    generated: Tensor,
    batch_size: int = 500,  # pragma: no mutate (equivalent: batching changes memory, not features)
) -> float:
    """Fréchet distance between Gaussians fitted to the classifier features of two image sets.

    Lower is better; 0 for identical feature statistics. Both sets should have the same size
    (the estimate is biased upward for small sets, so compare models at equal counts).

    Args:
        classifier: a model with ``features(x) -> (N, F)``, e.g. from :func:`train_feature_classifier`.
        real: real images in [0, 1], (N, C, H, W).
        generated: generated images in [0, 1], (M, C, H, W).
        batch_size: images per forward pass.
    """
    if real.shape[0] < 2 or generated.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 images in each set")  # pragma: no mutate (message text)
    if tuple(real.shape[1:]) != tuple(generated.shape[1:]):
        shapes = tuple(real.shape[1:]), tuple(generated.shape[1:])  # pragma: no mutate (message text)
        msg = "image shapes differ: real {}, generated {}".format(*shapes)  # pragma: no mutate (message text)
        raise ValueError(msg)  # pragma: no mutate (message text)
    was_training = classifier.training
    classifier.eval()
    try:
        a, b = _features(classifier, real, batch_size), _features(classifier, generated, batch_size)
    finally:
        classifier.train(was_training)
    return gaussian_frechet_distance(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T))  # (F, F) covariances
