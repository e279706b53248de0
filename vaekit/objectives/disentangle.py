"""Objectives that encourage disentangled codes: beta-TCVAE, DIP-VAE and FactorVAE.

Each is the ELBO of the same VAE with a penalty on the aggregate posterior q(z) = E_x q(z|x):

- beta-TCVAE (Chen et al. 2018) splits the KL term into index-code mutual information, total
  correlation TC = KL(q(z) || prod_d q(z_d)) and dimension-wise KL, and weights the TC by beta;
  log q(z) is estimated on the minibatch (minibatch-weighted or minibatch-stratified sampling).
- DIP-VAE (Kumar et al. 2018) pushes the covariance of q(z) towards the identity: of the encoder
  means (I) or of the whole aggregate posterior (II).
- FactorVAE (Kim & Mnih 2018) estimates the TC with a discriminator between codes z ~ q(z) and
  codes whose dimensions were shuffled across the batch (samples of prod_d q(z_d)); the
  discriminator is the model's second parameter group (``vaekit.models.factorvae``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.distributions.kl import kl_terms
from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective, split_batch
from vaekit.objectives.schedules import Schedule, as_schedule
from vaekit.registry import register

ESTIMATORS = ("mws", "mss")


def _gaussian_log_density(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """Elementwise log N(z; mean, exp(log_var))."""
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean).pow(2) * torch.exp(-log_var))


def _log_stratified_weights(batch: int, dataset_size: int, like: Tensor) -> Tensor:
    """(M, M) log weights of minibatch-stratified sampling (Chen et al. 2018, appendix C.2), in the
    dtype and on the device of ``like``.

    For sample i, example i itself has weight 1/N; of the others, M - 2 have weight 1/(M - 1) and
    one (the next, cyclically) carries the rest of the dataset: (N - M + 1) / (N (M - 1)).
    """
    m, n = batch, dataset_size
    weights = like.new_full((m, m), 1.0 / (m - 1))
    weights.fill_diagonal_(1.0 / n)
    strat = (n - m + 1) / (n * (m - 1))
    # The next example, cyclically: the first superdiagonal and the bottom-left corner.
    weights.diagonal(1).fill_(strat)
    weights[m - 1, 0] = strat
    return weights.log()


def total_correlation_terms(
    z: Tensor, mean: Tensor, log_var: Tensor, dataset_size: int, estimator: str = "mws"
) -> dict[str, Tensor]:
    """Minibatch estimates of log q(z), log prod_d q(z_d) and log q(z|x) for each sample.

    q(z) = (1/N) sum_n q(z|x_n) is estimated from the batch's own posteriors. "mws"
    (minibatch-weighted sampling) gives each of the M posteriors weight 1/M. Chen et al. write the
    weight as 1/(N M); that only shifts log q(z) and each log q(z_d) by -log N (the TC by
    (D - 1) log N), a constant that leaves the gradients as they are, so the estimate here is of
    the TC itself. "mss" (minibatch-stratified sampling) weights the sample's own posterior 1/N
    and the others so that the weights sum to 1 (see :func:`_log_stratified_weights`).

    Args:
        z: (M, D) one code per example, drawn from its own posterior.
        mean, log_var: (M, D) the Gaussian posteriors of the batch.
        dataset_size: N, the size of the training set.
        estimator: "mws" or "mss".

    Returns:
        ``log_qz``, ``log_prod_qzd`` and ``log_qz_x``, each (M,).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r} is not one of {ESTIMATORS}")  # pragma: no mutate (message text)
    m = z.shape[0]
    if m < 2:
        raise ValueError("the TC estimators need at least 2 examples per batch")  # pragma: no mutate (message text)
    log_qz_x = _gaussian_log_density(z, mean, log_var).sum(1)  # (M, D) -> (M,)
    # matrix[i, j, d] = log q(z_i,d | x_j)
    matrix = _gaussian_log_density(z.unsqueeze(1), mean.unsqueeze(0), log_var.unsqueeze(0))  # (M, M, D)
    if estimator == "mws":
        shift = math.log(m)
        log_qz = torch.logsumexp(matrix.sum(-1), dim=1) - shift  # (M,)
        log_prod_qzd = (torch.logsumexp(matrix, dim=1) - shift).sum(1)  # (M,)
    else:
        weights = _log_stratified_weights(m, dataset_size, z)  # (M, M)
        log_qz = torch.logsumexp(weights + matrix.sum(-1), dim=1)
        log_prod_qzd = torch.logsumexp(weights.unsqueeze(-1) + matrix, dim=1).sum(1)
    return {"log_qz": log_qz, "log_prod_qzd": log_prod_qzd, "log_qz_x": log_qz_x}


def _gaussian_parts(q_z: Any) -> tuple[Tensor, Tensor]:
    """Mean and log-variance (B, D) of a diagonal Gaussian posterior."""
    try:
        mean, var = q_z.mean, q_z.variance
    except NotImplementedError as error:
        message = "this objective needs a Gaussian posterior (mean and variance)"  # pragma: no mutate (message text)
        raise TypeError(message) from error
    return mean, var.clamp_min(1e-12).log()


def _reconstruction(out: Any, x: Tensor) -> Tensor:
    """-log p(x|z) averaged over the batch (one draw of z per example)."""
    return -out.p_x.log_prob(x).mean()


@register("objective", "betatcvae")
class BetaTCVAEObjective(Objective):
    """beta-TCVAE: reconstruction + alpha * MI + beta * TC + gamma * dimension-wise KL.

    The three terms are minibatch estimates (see :func:`total_correlation_terms`); with alpha =
    beta = gamma = 1 they add up to an estimate of the ELBO's KL term.

    Args:
        beta: weight of the total correlation (a number or a schedule config).
        alpha: weight of the index-code mutual information.
        gamma: weight of the dimension-wise KL.
        estimator: "mws" (minibatch-weighted) or "mss" (minibatch-stratified sampling).
        dataset_size: N, the number of training examples, used by "mss" (None: 100,000, the size of the
            built-in dsprites training set).
    """

    def __init__(
        self,
        beta: float | dict | Schedule = 6.0,
        alpha: float = 1.0,
        gamma: float = 1.0,
        estimator: str = "mws",
        dataset_size: int | None = None,
    ):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator {estimator!r} is not one of {ESTIMATORS}")  # pragma: no mutate (message text)
        self.beta = as_schedule(beta)
        self.alpha, self.gamma = float(alpha), float(gamma)
        self.estimator = estimator
        self.dataset_size = None if dataset_size is None else int(dataset_size)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(x, y, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        z = out.z  # (B, D): one draw per example
        mean, log_var = _gaussian_parts(out.q_z)
        n = self.dataset_size if self.dataset_size is not None else 100_000
        t = total_correlation_terms(z, mean, log_var, max(n, z.shape[0]), self.estimator)
        log_pz = out.p_z.log_prob(z)  # (B,)
        mi = (t["log_qz_x"] - t["log_qz"]).mean()
        tc = (t["log_qz"] - t["log_prod_qzd"]).mean()
        dim_kl = (t["log_prod_qzd"] - log_pz).mean()
        rec = _reconstruction(out, x)
        kl = kl_terms(out.q_z, out.p_z, out.z).total.mean()
        beta = self.beta(step)
        loss = rec + self.alpha * mi + beta * tc + self.gamma * dim_kl
        terms = {
            "loss": loss.detach(),
            "reconstruction": rec.detach(),
            "kl": kl.detach(),
            "elbo": -(rec + kl).detach(),
            "mutual_information": mi.detach(),
            "total_correlation": tc.detach(),
            "dimension_kl": dim_kl.detach(),
            "beta": loss.new_tensor(beta),
        }
        return LossOutput(loss, terms)


def _covariance(t: Tensor) -> Tensor:
    """(D, D) covariance of the rows of (B, D), normalized by B (the batch's own statistics)."""
    centred = t - t.mean(0)  # (B, D) - (D,)
    return centred.T @ centred / t.shape[0]


def dip_penalty(mean: Tensor, log_var: Tensor, kind: str, lambda_od: float, lambda_d: float) -> Tensor:
    """DIP-VAE's regularizer: lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2.

    C is Cov[mu(x)] for "i", and Cov[mu(x)] + E[diag(sigma^2(x))] (the covariance of q(z)) for "ii".
    """
    cov = _covariance(mean)  # (D, D)
    if kind == "ii":
        cov = cov + torch.diag(log_var.exp().mean(0))
    elif kind != "i":
        raise ValueError(f"unknown DIP-VAE kind {kind!r}; valid: ['i', 'ii']")  # pragma: no mutate (message text)
    diagonal = torch.diagonal(cov)
    off = cov - torch.diag(diagonal)
    return lambda_od * off.pow(2).sum() + lambda_d * (diagonal - 1).pow(2).sum()


@register("objective", "dipvae")
class DIPVAEObjective(Objective):
    """DIP-VAE: the ELBO plus a penalty matching the aggregate posterior's covariance to I.

    Args:
        kind: "i" (covariance of the encoder means) or "ii" (of the aggregate posterior).
        lambda_od: weight of the off-diagonal terms.
        lambda_d: weight of the diagonal terms (None: 10 * lambda_od for "i", lambda_od for "ii",
            as in the paper and disentanglement_lib).
        beta: weight of the KL term.
    """

    def __init__(self, kind: str = "i", lambda_od: float = 10.0, lambda_d: float | None = None, beta: float = 1.0):
        if kind not in ("i", "ii"):
            raise ValueError(f"unknown DIP-VAE kind {kind!r}; valid: ['i', 'ii']")  # pragma: no mutate (message text)
        self.kind, self.lambda_od = kind, float(lambda_od)
        self.lambda_d = float(lambda_d) if lambda_d is not None else (10.0 if kind == "i" else 1.0) * self.lambda_od
        self.beta = float(beta)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(x, y, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        mean, log_var = _gaussian_parts(out.q_z)
        rec = _reconstruction(out, x)
        kl = kl_terms(out.q_z, out.p_z, out.z).total.mean()
        penalty = dip_penalty(mean, log_var, self.kind, self.lambda_od, self.lambda_d)
        loss = rec + self.beta * kl + penalty
        terms = {
            "loss": loss.detach(),
            "reconstruction": rec.detach(),
            "kl": kl.detach(),
            "elbo": -(rec + kl).detach(),
            "dip_penalty": penalty.detach(),
        }
        return LossOutput(loss, terms)


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Shuffle each dimension of (B, D) codes independently across the batch: samples of prod_d q(z_d)."""
    b, d = z.shape
    noise = z.new_empty(b, d).uniform_(generator=generator)  # on z's device and in its dtype
    order = torch.argsort(noise, dim=0)  # (B, D)
    return torch.gather(z, 0, order)


def discriminator_tc(logits: Tensor) -> Tensor:
    """The density-ratio estimate of TC: E[log D(z) / (1 - D(z))] = the mean logit on codes from q(z)."""
    return logits.mean()


def discriminator_loss(logits_joint: Tensor, logits_permuted: Tensor) -> Tensor:
    """Cross-entropy of telling codes from q(z) (label 1) from dimension-shuffled codes (label 0)."""
    return 0.5 * (
        F.binary_cross_entropy_with_logits(logits_joint, torch.ones_like(logits_joint))
        + F.binary_cross_entropy_with_logits(logits_permuted, torch.zeros_like(logits_permuted))
    )


@register("objective", "factorvae")
class FactorVAEObjective(Objective):
    """FactorVAE: the ELBO + gamma * TC, the TC estimated by the model's latent discriminator.

    Two losses, one per parameter group: the VAE steps on ``reconstruction + KL + gamma * TC``,
    the discriminator on its cross-entropy between the batch's codes and their dimension-shuffled
    copy (both detached, so each loss moves only its own group).

    Args:
        gamma: weight of the total correlation (a number or a schedule config).
    """

    def __init__(self, gamma: float | dict | Schedule = 20.0):
        self.gamma = as_schedule(gamma)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        if not hasattr(model, "latent_discriminator") or not hasattr(model, "vae"):
            message = f"factorvae needs a FactorVAE, not {type(model).__name__}"  # pragma: no mutate (message text)
            raise TypeError(message)
        x, y = split_batch(batch)
        out = model.vae(x, y, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        z = out.z  # (B, D): one draw per example
        rec = _reconstruction(out, x)
        kl = kl_terms(out.q_z, out.p_z, out.z).total.mean()
        tc = discriminator_tc(model.latent_discriminator(z))
        gamma = self.gamma(step)
        vae_loss = rec + kl + gamma * tc
        codes = z.detach()
        disc = discriminator_loss(model.latent_discriminator(codes), model.latent_discriminator(permute_dims(codes)))
        terms = {
            "loss": vae_loss.detach(),
            "reconstruction": rec.detach(),
            "kl": kl.detach(),
            "elbo": -(rec + kl).detach(),
            "total_correlation": tc.detach(),
            "discriminator": disc.detach(),
            "gamma": vae_loss.new_tensor(gamma),
        }
        return LossOutput(vae_loss + disc, terms, group_losses={"vae": vae_loss, "discriminator": disc})
