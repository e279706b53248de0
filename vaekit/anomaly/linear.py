"""A linear-Gaussian VAE fitted in closed form: the fast default model of the anomaly detector on tables.

The model is an ordinary vaekit VAE whose encoder and decoder are single linear layers:

    p(z) = N(0, I),   p(x|z) = N(W z + mu, sigma^2 I),   q(z|x) = N(A (x - mu), diag(s)),

so its marginal likelihood is p(x) = N(mu, W W^T + sigma^2 I), probabilistic PCA (Tipping & Bishop 1999),
and its parameters can be set in closed form instead of by gradient steps (the linear VAE's ELBO has no
spurious optima: Lucas et al. 2019). With W's columns orthogonal the exact posterior is a diagonal Gaussian,
which the encoder represents exactly: the ELBO then equals log p(x) for every draw of z, and the
importance-sampled NLL is exact with a single sample.

The covariance W W^T + sigma^2 I is the Oracle Approximating Shrinkage estimate (Chen et al. 2010),
(1 - a) C + a m I, with C the sample covariance, m its mean eigenvalue and a the shrinkage: the value of
scikit-learn's ``oas``, computed here without its argument checks, which cost more than the whole fit. The
maximum-likelihood fit (a = 0) overfits the tens of rows a one-class table often has (benchmarks/RESULTS.md,
"choosing the table model"). With ``latent_dim`` below the number of features, the discarded directions
share one variance, their mean (probabilistic PCA's maximum-likelihood sigma^2 given the kept directions).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from vaekit.models.vae import VAE
from vaekit.registry import build_model

MIN_VARIANCE = 1e-6  # floor of every variance, in the data's squared units (a constant column has none)


def oas_shrinkage(covariance: np.ndarray, n: int) -> float:
    """The OAS shrinkage a in [0, 1] of a sample covariance (D, D) (maximum likelihood, divided by N) of n rows."""
    d = covariance.shape[0]
    mu = np.trace(covariance) / d
    mean_square = float(np.mean(covariance**2))
    numerator = mean_square + mu**2
    denominator = (n + 1.0) * (mean_square - mu**2 / d)
    return 1.0 if denominator == 0 else float(min(numerator / denominator, 1.0))


def shrunk_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean, eigenvectors (D, D), descending eigenvalues of the OAS covariance, and the isotropic part a*m.

    Args:
        x: training rows (N, D), float64.
    """
    mean = x.mean(0)
    centred = x - mean
    sample = centred.T @ centred / len(x)
    shrinkage = oas_shrinkage(sample, len(x))
    m = float(np.trace(sample)) / x.shape[1]
    covariance = (1.0 - shrinkage) * sample + shrinkage * m * np.eye(x.shape[1])
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    isotropic = shrinkage * m
    return mean, vectors[:, order], np.maximum(values[order], MIN_VARIANCE), max(isotropic, MIN_VARIANCE)


@torch.no_grad()
def fit_linear_vae(x: Tensor, latent_dim: int | None = None) -> VAE:
    """A linear-Gaussian VAE set to the closed-form fit of ``x`` (N, *data_shape).

    Args:
        x: training examples; at least 2.
        latent_dim: latent dimensions, at most the number of values per example (None: all of them).

    Returns:
        The model, in eval mode, built from vaekit's parts (so it saves, loads and scores like any VAE).

    Raises:
        ValueError: fewer than 2 examples, or a latent size outside [1, D].
    """
    data_shape = [int(s) for s in x.shape[1:]]
    d = math.prod(data_shape)
    k = d if latent_dim is None else int(latent_dim)
    if len(x) < 2:
        raise ValueError(f"a linear VAE needs at least 2 training examples, got {len(x)}")
    if not 1 <= k <= d:
        raise ValueError(f"latent_dim must be between 1 and the {d} values per example, got {latent_dim}")
    mean, vectors, values, isotropic = shrunk_spectrum(x.reshape(len(x), d).double().numpy())
    # The decoder noise: the shrinkage's isotropic part with every direction kept, else the mean of the
    # discarded directions' variances; each kept direction's loading carries the variance above it.
    noise = isotropic if k == d else float(values[k:].mean())
    loadings = np.sqrt(np.maximum(values[:k] - noise, 0.0))  # (k,)
    w = vectors[:, :k] * loadings  # (D, k): W = U_k diag(loadings)
    posterior_precision = loadings**2 + noise  # diag(W^T W + sigma^2 I): diagonal, W's columns are orthogonal
    encoder_weight = (w / posterior_precision).T  # (k, D): E[z|x] = M^-1 W^T (x - mu)
    likelihood = {"type": "gaussian", "sigma": math.sqrt(noise)}
    model = build_model({"type": "vae", "latent_dim": k, "hidden": [], "likelihood": likelihood}, data_shape)
    head = model.posterior.head  # one Linear producing (mean, log-variance)
    head.weight.zero_()
    head.weight[:k] = torch.from_numpy(encoder_weight)
    head.bias[:k] = torch.from_numpy(-encoder_weight @ mean)
    head.bias[k:] = torch.from_numpy(np.log(noise / posterior_precision))  # Cov[z|x] = sigma^2 M^-1
    out = model.decoder.net[-1]
    out.weight.copy_(torch.from_numpy(w))
    out.bias.copy_(torch.from_numpy(mean))
    return model.eval()


def marginal_covariance(model: VAE) -> Tensor:
    """W W^T + sigma^2 I of a linear-Gaussian VAE from :func:`fit_linear_vae`, (D, D) float64."""
    w = model.decoder.net[-1].weight.double()
    sigma2 = float(model.likelihood.log_sigma.double().exp() ** 2)
    return w @ w.T + sigma2 * torch.eye(w.shape[0], dtype=torch.float64)
