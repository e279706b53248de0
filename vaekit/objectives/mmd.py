"""The Wasserstein autoencoder with an MMD penalty (WAE-MMD, Tolstikhin et al. 2018).

The WAE replaces the per-example KL of the VAE with a divergence between the *aggregate*
posterior q(z) = E_x q(z|x) and the prior p(z), estimated on each batch by the maximum
mean discrepancy between encoded codes and prior draws:

    loss = E_x E_q(z|x) c(x, G(z)) + lambda * MMD_k(q(z), p(z)),

with the reconstruction cost c taken as the model's own negative log-likelihood (squared
error for a fixed-sigma Gaussian likelihood, cross-entropy for a Bernoulli one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective, split_batch
from vaekit.objectives.schedules import Schedule, as_schedule
from vaekit.registry import register

KERNELS = ("imq", "rbf")
DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def kernel_matrix(
    a: Tensor, b: Tensor, kernel: str = "imq", scales: Sequence[float] = DEFAULT_SCALES, prior_variance: float = 1.0
) -> Tensor:
    """The kernel between every row of ``a`` (N, D) and every row of ``b`` (M, D): (N, M).

    "imq" is the inverse multiquadratic kernel C / (C + ||a - b||^2) of the WAE paper, summed
    over bandwidths C = s * 2 * D * prior_variance for each s in ``scales`` (its heavy tails
    keep gradients alive for codes far from the prior's mass). "rbf" is exp(-||a - b||^2 / C)
    summed over the same bandwidths.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown MMD kernel {kernel!r}; valid: {list(KERNELS)}")  # pragma: no mutate (message text)
    squared = torch.cdist(a, b).pow(2)  # (N, M)
    base = 2.0 * a.shape[-1] * prior_variance
    total = torch.zeros_like(squared)
    for s in scales:
        c = s * base
        total = total + (c / (c + squared) if kernel == "imq" else torch.exp(-squared / c))
    return total


def mmd_unbiased(
    x: Tensor, y: Tensor, kernel: str = "imq", scales: Sequence[float] = DEFAULT_SCALES, prior_variance: float = 1.0
) -> Tensor:
    """The unbiased U-statistic estimate of MMD^2 between the samples ``x`` (N, D) and ``y`` (M, D):

        1/(N(N-1)) sum_{i != j} k(x_i, x_j) + 1/(M(M-1)) sum_{i != j} k(y_i, y_j) - 2/(NM) sum_{i, j} k(x_i, y_j).

    Its expectation is exactly MMD^2 (so 0 when both samples come from one distribution); a
    single estimate can be negative.

    Raises:
        ValueError: fewer than 2 rows in a sample, or samples of different widths.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        shapes = f"{tuple(x.shape)} and {tuple(y.shape)}"  # pragma: no mutate (message text)
        raise ValueError(f"MMD needs two (N, D) samples of one width, got {shapes}")  # pragma: no mutate (message text)
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("the unbiased MMD needs at least 2 samples of each")  # pragma: no mutate (message text)
    k_xx = kernel_matrix(x, x, kernel, scales, prior_variance)  # (N, N)
    k_yy = kernel_matrix(y, y, kernel, scales, prior_variance)  # (M, M)
    k_xy = kernel_matrix(x, y, kernel, scales, prior_variance)  # (N, M)
    # Leaving out the diagonal (i == j) terms is what removes the bias of the V-statistic.
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2.0 * k_xy.mean()


@register("objective", "wae")
class WAEObjective(Objective):
    """WAE-MMD: reconstruction cost plus ``weight`` * MMD(codes, prior draws) on each batch.

    Works with any model that has ``forward(x, y, n_samples, check) -> VAEOutput`` and a prior
    with ``sample(n)``: a deterministic posterior (the paper's WAE) or a Gaussian one.

    Args:
        weight: lambda, a number or a schedule config.
        kernel: "imq" (the paper's choice) or "rbf".
        scales: bandwidth multipliers summed over (see :func:`kernel_matrix`).
        prior_variance: the prior's per-dimension variance, which sets the bandwidth.
    """

    def __init__(
        self,
        weight: float | dict | Schedule = 10.0,
        kernel: str = "imq",
        scales: Sequence[float] = DEFAULT_SCALES,
        prior_variance: float = 1.0,
    ):
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; valid: {list(KERNELS)}")  # pragma: no mutate (message text)
        self.weight = as_schedule(weight)
        self.kernel = kernel
        self.scales = tuple(float(s) for s in scales)
        self.prior_variance = float(prior_variance)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(x, y, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        reconstruction = -out.p_x.log_prob(x).mean()
        z_prior = model.prior.sample(x.shape[0]).to(out.z)  # (B, D)
        mmd = mmd_unbiased(out.z, z_prior, self.kernel, self.scales, self.prior_variance)
        weight = self.weight(step)
        loss = reconstruction + weight * mmd
        terms = {
            "loss": loss.detach(),
            "reconstruction": reconstruction.detach(),
            "mmd": mmd.detach(),
            "mmd_weight": loss.new_tensor(weight),
        }
        return LossOutput(loss, terms)
