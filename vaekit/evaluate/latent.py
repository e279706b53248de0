"""Diagnostics of the latent space: KL per dimension, active units, mutual information."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vaekit.distributions.kl import kl_terms
from vaekit.distributions.posterior import has_density
from vaekit.objectives.elbo import elbo


@torch.no_grad()
def posterior_statistics(
    model: nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 1000
) -> tuple[Tensor, Tensor]:
    """Posterior means and log-variances for all of ``x``: two (N, D) tensors (-inf log-variances for a
    point-mass posterior)."""
    device = next(model.parameters()).device
    means, logvars = [], []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = None if y is None else y[start : start + batch_size].to(device)
        q = model.encode(xb, yb, check=False)
        means.append(q.mean.cpu())
        logvars.append(q.variance.log().cpu())
    return torch.cat(means), torch.cat(logvars)


def active_units(means: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """Burda et al.'s criterion: dimension j is active if Cov_x(E_q[z_j]) > ``threshold``.

    Args:
        means: (N, D) posterior means.

    Returns:
        The count and the (D,) per-dimension variances.
    """
    # One example has no spread; otherwise the unbiased variance (divides by N - 1, torch's default).
    variance = torch.zeros(means.shape[1]) if means.shape[0] < 2 else means.var(0)
    return int((variance > threshold).sum()), variance


def mutual_information(means: Tensor, logvars: Tensor, max_examples: int = 1000, seed: int = 0) -> float:
    """Estimate I(x; z) under q(x, z) = p_data(x) q(z|x) (Hoffman & Johnson 2016):

        I = E_x E_{q(z|x)} [log q(z|x) - log q(z)],  q(z) ~ (1/N) sum_n q(z | x_n),

    with one z per example and the aggregate posterior q(z) taken over ``max_examples``
    examples (an O(N^2 D) computation).
    """
    gen = torch.Generator().manual_seed(seed)
    if means.shape[0] > max_examples:
        pick = torch.randperm(means.shape[0], generator=gen)[:max_examples]
        means, logvars = means[pick], logvars[pick]
    n, d = means.shape
    std = (0.5 * logvars).exp()
    z = means + std * torch.randn(means.shape, generator=gen)  # (N, D)
    inv_var = (-logvars).exp()  # (N, D)
    # log q(z | x_n) without its -D/2 log(2 pi): a constant shared by every term, it cancels in I.
    norm = -0.5 * logvars.sum(1)  # (N,)
    # log q(z_m | x_n) for every pair, in row chunks so memory stays O(chunk * N * D).
    chunk = max(1, 2**24 // max(1, n * d))  # pragma: no mutate (memory only: every chunk size gives the same rows)
    rows = []
    for start in range(0, n, chunk):
        diff = z[start : start + chunk, None, :] - means[None, :, :]  # (c, N, D)
        rows.append(norm[None, :] - 0.5 * (diff.pow(2) * inv_var[None]).sum(-1))  # (c, N)
    log_q_cond = torch.cat(rows)  # (N_z, N_x)
    log_q_marginal = torch.logsumexp(log_q_cond, 1) - math.log(n)
    return float((log_q_cond.diagonal() - log_q_marginal).mean())


@torch.no_grad()
def elbo_terms(model: nn.Module, x: Tensor, y: Tensor | None = None, batch_size: int = 500) -> dict[str, object]:
    """Dataset means of the ELBO, reconstruction term and KL, and the KL per latent dimension.

    A posterior without a density (a point mass) has no KL to the prior: ``elbo``, ``kl`` and
    ``kl_per_dim`` are then None and only the reconstruction term is reported.
    """
    device = next(model.parameters()).device
    totals = {"elbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    kl_dims: Tensor | None = None
    n = x.shape[0]
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = None if y is None else y[start : start + batch_size].to(device)
        out = model(xb, yb, check=False)
        weight = xb.shape[0]
        if not has_density(out.q_z):
            totals["reconstruction"] += float(-out.p_x.log_prob(xb).mean()) * weight
            totals["elbo"] = totals["kl"] = math.nan
            continue
        result = elbo(out, xb)
        for key in totals:
            totals[key] += float(result.terms[key]) * weight
        per_dim = kl_terms(out.q_z, out.p_z, out.z).per_dim
        if per_dim is not None:
            kl_dims = per_dim.sum(0).cpu() if kl_dims is None else kl_dims + per_dim.sum(0).cpu()
    summary: dict[str, object] = {key: None if math.isnan(value) else value / n for key, value in totals.items()}
    summary["kl_per_dim"] = None if kl_dims is None else (kl_dims / n).tolist()
    return summary
