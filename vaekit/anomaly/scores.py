"""Anomaly scores of a trained VAE, per example (higher = more anomalous), and their per-value parts.

Four scores, all in the units of the model's likelihood:

- ``"elbo"``: the negative ELBO, -(1/S) sum_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)], z_s ~ q(z|x).
- ``"reconstruction_nll"``: the ELBO's reconstruction term alone, -(1/S) sum_s log p(x|z_s), z_s ~ q(z|x):
  the expected negative log-likelihood of x under the decoder, without the KL term.
- ``"nll"``: the importance-sampled negative log-likelihood -log p(x), from the one estimator
  :func:`vaekit.log_likelihood` with ``k`` samples.
- ``"reconstruction"``: the squared error between x and the likelihood mean decoded from the
  posterior mean, summed over values.

Sampling uses a fixed seed (without disturbing the global random state), so the same model and
data always give the same scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent

from vaekit.evaluate import log_likelihood
from vaekit.models.base import log_weights


@dataclass
class ScoreSettings:
    """How a score is computed.

    Attributes:
        score: "elbo", "reconstruction_nll", "nll" or "reconstruction".
        n_samples: posterior draws for the ELBO and the reconstruction NLL.
        k: importance samples for the NLL.
        batch_size: examples per forward pass.
        seed: seed of the sampling, so scores are reproducible.
    """

    score: str = "elbo"
    n_samples: int = 16
    k: int = 128
    batch_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown anomaly score {self.score!r}; valid scores: {list(SCORES)}")


def _seed(seed: int) -> None:
    """Seed the CPU generator, and CUDA's if it is in use. torch.manual_seed would also queue a lazy CUDA seeding
    on a machine without CUDA in use, which records a stack trace each call: most of a small table's scoring time."""
    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)


def _batches(x: Tensor, size: int) -> Iterator[Tensor]:
    for start in range(0, x.shape[0], size):
        yield x[start : start + size]


def _per_value_log_prob(p_x: Distribution, x: Tensor) -> Tensor:
    """log p(x_j|z) for every value j, shape (..., B, *data_shape)."""
    if not isinstance(p_x, Independent):
        raise TypeError(f"per-value contributions need an Independent likelihood, got {type(p_x).__name__}")
    return p_x.base_dist.log_prob(x)


def _elbo(model: nn.Module, xb: Tensor, settings: ScoreSettings) -> Tensor:
    return -model.log_importance_weights(xb, settings.n_samples).mean(0)  # (B,)


def _reconstruction_nll(model: nn.Module, xb: Tensor, settings: ScoreSettings) -> Tensor:
    out = model(xb, n_samples=settings.n_samples, check=True)
    return -out.p_x.log_prob(xb).reshape(-1, xb.shape[0]).mean(0)  # (S, B) -> (B,)


def _nll(model: nn.Module, xb: Tensor, settings: ScoreSettings) -> Tensor:
    return -log_likelihood(model, xb, k=settings.k, batch_size=settings.batch_size)


def _reconstruction(model: nn.Module, xb: Tensor, settings: ScoreSettings) -> Tensor:
    error = (xb - model.reconstruct(xb)) ** 2  # (B, *data_shape)
    return error.flatten(1).sum(1)


ScoreFn = Callable[[nn.Module, Tensor, ScoreSettings], Tensor]
# The scores by name: each maps a batch (B, *data_shape) to (B,) scores, higher = more anomalous.
SCORES: dict[str, ScoreFn] = {
    "elbo": _elbo,
    "reconstruction_nll": _reconstruction_nll,
    "nll": _nll,
    "reconstruction": _reconstruction,
}


@torch.no_grad()
def anomaly_scores(model: nn.Module, x: Tensor, settings: ScoreSettings) -> Tensor:
    """Scores of the examples ``x`` (N, *data_shape) under ``model``: shape (N,), higher = more anomalous."""
    model.eval()
    score = SCORES[settings.score]
    with torch.random.fork_rng(devices=[]):
        _seed(settings.seed)
        return torch.cat([score(model, xb, settings) for xb in _batches(x, settings.batch_size)])


@torch.no_grad()
def score_contributions(model: nn.Module, x: Tensor, settings: ScoreSettings) -> tuple[Tensor, Tensor]:
    """Split each example's score into per-value contributions and a remainder.

    - "reconstruction": the squared error of each value (the remainder is zero).
    - "elbo": -E_q[log p(x_j|z)] for each value j, averaged over the posterior draws; the
      remainder is the KL term E_q[log q(z|x) - log p(z)].
    - "reconstruction_nll": the same per-value terms; the remainder is zero.
    - "nll": -sum_i w_i log p(x_j|z_i) with the self-normalized importance weights w_i; the
      remainder is what the latent terms add to -log p(x).

    Returns:
        ``(contributions, remainder)``: (N, *data_shape) and (N,), with
        ``contributions.sum(values) + remainder`` equal to the score (up to sampling for "nll").
    """
    model.eval()
    contributions, remainders = [], []
    with torch.random.fork_rng(devices=[]):
        _seed(settings.seed)
        for xb in _batches(x, settings.batch_size):
            if settings.score == "reconstruction":
                per_value = (xb - model.reconstruct(xb)) ** 2
                contributions.append(per_value)
                remainders.append(torch.zeros(xb.shape[0]))
                continue
            draws = settings.k if settings.score == "nll" else settings.n_samples
            out = model(xb, n_samples=draws, check=True)
            per_value = -_per_value_log_prob(out.p_x, xb)  # (S, B, *data_shape)
            log_w = log_weights(out, xb)  # (S, B)
            if log_w.dim() == 1:  # one draw: the model gives no sample dimension
                log_w, per_value = log_w.unsqueeze(0), per_value.unsqueeze(0)
            if settings.score in ("elbo", "reconstruction_nll"):
                weights = torch.full_like(log_w, 1.0 / draws)
                total = -log_w.mean(0) if settings.score == "elbo" else -out.p_x.log_prob(xb).mean(0)
            else:
                weights = torch.softmax(log_w, 0)
                total = -(torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(draws))))
            shape = (*weights.shape, *([1] * (per_value.dim() - 2)))
            per_value = (weights.view(shape) * per_value).sum(0)  # (B, *data_shape)
            contributions.append(per_value)
            remainders.append(total - per_value.flatten(1).sum(1))
    return torch.cat(contributions), torch.cat(remainders)
