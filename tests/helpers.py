"""Shared helpers for tests: small models with known likelihoods."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

import vaekit
from vaekit.data import DynamicBinarize
from vaekit.distributions import DiagonalGaussianPosterior, GaussianLikelihood, StandardNormalPrior
from vaekit.models import VAE
from vaekit.nn import MLPDecoder
from vaekit.train import fit


class Identity(nn.Module):
    """Encoder that passes vectors through (features = the input)."""

    def __init__(self, width: int):
        super().__init__()
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return x


def linear_gaussian_vae(
    data_dim: int = 4, scales: tuple[float, ...] = (2.0, 1.0), sigma: float = 0.5, variance_factor: float = 1.0
) -> tuple[VAE, Tensor, Tensor]:
    """p(z) = N(0, I), p(x|z) = N(Wz + b, sigma^2 I) with orthogonal columns in W, so the exact
    posterior is diagonal; q(z|x) is that posterior with its variance multiplied by ``variance_factor``.

    Returns the model, W and b (log p(x) = log N(x; b, W W^T + sigma^2 I)).
    """
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(data_dim, data_dim, generator=gen))
    s = torch.tensor(scales)
    w = q[:, : len(scales)] * s  # (X, D), orthogonal columns
    b = torch.randn(data_dim, generator=gen)
    latent = len(scales)
    decoder = MLPDecoder(latent, [data_dim], hidden=[])
    posterior = DiagonalGaussianPosterior(data_dim, latent)
    model = VAE(
        [data_dim], Identity(data_dim), posterior, StandardNormalPrior(latent), decoder, GaussianLikelihood(sigma=sigma)
    )
    post_var = 1.0 / (1.0 + s**2 / sigma**2)  # (D,)
    with torch.no_grad():
        decoder.net[-1].weight.copy_(w)
        decoder.net[-1].bias.copy_(b)
        head = posterior.head
        head.weight.zero_()
        head.bias.zero_()
        head.weight[:latent] = (post_var[:, None] * w.T) / sigma**2
        head.bias[:latent] = -(post_var[:, None] * w.T / sigma**2) @ b
        head.bias[latent:] = torch.log(post_var * variance_factor)
    return model, w, b


def exact_log_likelihood(x: Tensor, w: Tensor, b: Tensor, sigma: float) -> Tensor:
    """log N(x; b, W W^T + sigma^2 I) per row."""
    cov = w @ w.T + sigma**2 * torch.eye(w.shape[0])
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ---------------------------------------------------------------- small digits models, trained by the one loop
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SMALL = {"latent_dim": 4, "hidden": [32]}


def train_digits_model(spec, objective, x, y=None, *, epochs=8, seed=0):
    """Build ``spec`` for 8x8 digits and train it with ``objective`` (dynamic binarization of 17 levels)."""
    torch.manual_seed(seed)
    model = vaekit.build_model(spec, [1, 8, 8])
    history = fit(
        model, objective, x, y, epochs=epochs, batch_size=50, lr=3e-3, seed=seed, transform=DynamicBinarize(17)
    )
    return model, history
