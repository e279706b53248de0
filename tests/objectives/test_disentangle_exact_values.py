"""beta-TCVAE, DIP-VAE and FactorVAE on tiny fixed posteriors: the minibatch estimators against explicit sums
over the batch, closed forms for well-separated posteriors and hand-computed covariances, and each objective
against its terms worked out independently."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaekit.models.factorvae import LatentDiscriminator
from vaekit.models.output import VAEOutput
from vaekit.objectives import (
    BetaTCVAEObjective,
    DIPVAEObjective,
    FactorVAEObjective,
    dip_penalty,
    permute_dims,
    total_correlation_terms,
)
from vaekit.objectives.disentangle import discriminator_loss

# ----------------------------------------------------------------------------- independent reference values


def _log_normal(z: float, mean: float, log_var: float) -> float:
    return -0.5 * (math.log(2 * math.pi) + log_var + (z - mean) ** 2 / math.exp(log_var))


def _weights(m: int, n: int | None) -> np.ndarray:
    """Minibatch weights: 1/M each ("mws", n None), or stratified (Chen et al. 2018, C.2): 1/N for the example
    itself, (N - M + 1) / (N (M - 1)) for the next one (cyclically), 1/(M - 1) for the others."""
    if n is None:
        return np.full((m, m), 1.0 / m)
    w = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            if j == i:
                w[i, j] = 1.0 / n
            elif j == (i + 1) % m:
                w[i, j] = (n - m + 1) / (n * (m - 1))
            else:
                w[i, j] = 1.0 / (m - 1)
    assert np.allclose(w.sum(1), 1.0)
    return w


def _brute_force_terms(z, mean, log_var, n: int | None) -> dict[str, np.ndarray]:
    """log q(z_i) = log sum_j w_ij q(z_i|x_j), log prod_d q(z_id) and log q(z_i|x_i), by loops."""
    z, mean, log_var = (np.asarray(t, dtype=np.float64) for t in (z, mean, log_var))
    m, d = z.shape
    w = _weights(m, n)
    dens = np.array([[[_log_normal(z[i, k], mean[j, k], log_var[j, k]) for k in range(d)] for j in range(m)]
                     for i in range(m)])  # fmt: skip
    log_qz = np.array([math.log(sum(w[i, j] * math.exp(dens[i, j].sum()) for j in range(m))) for i in range(m)])
    log_prod = np.array(
        [sum(math.log(sum(w[i, j] * math.exp(dens[i, j, k]) for j in range(m))) for k in range(d)) for i in range(m)]
    )
    log_qz_x = np.array([dens[i, i].sum() for i in range(m)])
    return {"log_qz": log_qz, "log_prod_qzd": log_prod, "log_qz_x": log_qz_x}


def _posteriors(m: int = 4, d: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mean = 0.8 * torch.randn(m, d, generator=g, dtype=torch.float64)
    log_var = 0.6 * torch.randn(m, d, generator=g, dtype=torch.float64) - 0.5  # a different variance per entry
    z = mean + (0.5 * log_var).exp() * torch.randn(m, d, generator=g, dtype=torch.float64)
    return z, mean, log_var


# ----------------------------------------------------------------------------- the estimators


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize(("m", "n"), [(4, 10), (2, 5), (5, 5)])
def test_total_correlation_terms_match_explicit_sums_over_the_batch(estimator, m, n):
    z, mean, log_var = _posteriors(m)
    terms = total_correlation_terms(z, mean, log_var, n, estimator)
    expected = _brute_force_terms(z, mean, log_var, None if estimator == "mws" else n)
    for key in ("log_qz", "log_prod_qzd", "log_qz_x"):
        assert terms[key].shape == (m,)
        np.testing.assert_allclose(terms[key].numpy(), expected[key], rtol=1e-10, err_msg=key)


def test_total_correlation_estimator_defaults_to_minibatch_weighted_and_checks_its_input():
    z, mean, log_var = _posteriors()
    default = total_correlation_terms(z, mean, log_var, 10)
    weighted = total_correlation_terms(z, mean, log_var, 10, "mws")
    for key in default:
        torch.testing.assert_close(default[key], weighted[key])
    with pytest.raises(ValueError, match="estimator"):
        total_correlation_terms(z, mean, log_var, 10, "MWS")
    with pytest.raises(ValueError):
        total_correlation_terms(z[:1], mean[:1], log_var[:1], 10, "mss")
    with pytest.raises(ValueError, match="estimator"):
        BetaTCVAEObjective(estimator="mcmc")


@pytest.mark.parametrize(
    ("estimator", "n", "log_weight"), [("mws", 1000, -math.log(4)), ("mss", 1000, -math.log(1000))]
)
def test_well_separated_posteriors_reduce_the_estimates_to_the_own_weight(estimator, n, log_weight):
    """When no posterior reaches another's code, only the own term survives: log q(z_i) = log w_ii + log q(z_i|x_i)
    and each log q(z_id) = log w_ii + log q(z_id|x_id); so TC = (D - 1) * (-log w_ii)."""
    mean = 100.0 * torch.arange(12, dtype=torch.float64).view(4, 3)
    log_var = torch.full_like(mean, math.log(0.01))
    z = mean + 0.1 * torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
    t = total_correlation_terms(z, mean, log_var, n, estimator)
    torch.testing.assert_close(t["log_qz"], t["log_qz_x"] + log_weight)
    torch.testing.assert_close(t["log_prod_qzd"], t["log_qz_x"] + 3 * log_weight)


# ----------------------------------------------------------------------------- a model with fixed parts


class _FixedModel(nn.Module):
    """q(z|x_b) = N(mean_b, diag exp(log_var_b)); z = mean + sigma * eps with fixed eps (one row per sample);
    p(x|z) = N(z W (+ y for a conditional batch), I); the prior given (default N(0, I))."""

    def __init__(self, mean, log_var, eps, weight, prior=None):
        super().__init__()
        self.mean, self.log_var, self.eps, self.weight = mean, log_var, eps, weight
        d = mean.shape[-1]
        zeros = torch.zeros(d, dtype=mean.dtype)
        self.prior = prior if prior is not None else Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def forward(self, x, y=None, n_samples=1, check=True):
        std = (0.5 * self.log_var).exp()
        z = self.mean + std * (self.eps[0] if n_samples == 1 else self.eps[:n_samples])
        loc = z @ self.weight + (0.0 if y is None else y)
        p_x = Independent(Normal(loc, torch.ones_like(loc)), 1)
        return VAEOutput(q_z=Independent(Normal(self.mean, std), 1), p_z=self.prior, z=z, p_x=p_x)


def _mixture_prior(d: int) -> MixtureSameFamily:
    """A prior with no closed-form KL against a Gaussian: the objectives estimate the KL at the draw."""
    locs = torch.tensor([[-1.0] * d, [1.5] * d], dtype=torch.float64)
    components = Independent(Normal(locs, torch.full_like(locs, 0.7)), 1)
    return MixtureSameFamily(Categorical(probs=torch.tensor([0.3, 0.7], dtype=torch.float64)), components)


def _fixed_model(mean, log_var, prior=None, x_dim: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(3, *mean.shape, generator=g, dtype=torch.float64)
    weight = torch.randn(mean.shape[-1], x_dim, generator=g, dtype=torch.float64)
    x = torch.randn(mean.shape[0], x_dim, generator=g, dtype=torch.float64)
    y = torch.randn(mean.shape[0], x_dim, generator=g, dtype=torch.float64)
    return _FixedModel(mean, log_var, eps, weight, prior), x, y


def _reference(model, x, y):
    """Reconstruction and the Monte Carlo KL at the model's single draw, computed here from the densities."""
    std = (0.5 * model.log_var).exp()
    z = model.mean + std * model.eps[0]
    loc = z @ model.weight + y
    rec = float((0.5 * (x - loc) ** 2 + 0.5 * math.log(2 * math.pi)).sum(-1).mean())
    log_q = Normal(model.mean, std).log_prob(z).sum(-1)
    kl = float((log_q - model.prior.log_prob(z)).mean())
    return z, rec, kl


# ----------------------------------------------------------------------------- beta-TCVAE


def test_betatcvae_objective_weights_its_three_terms_on_a_fixed_model():
    """Stratified sampling with N = 40, alpha 0.5, gamma 2, beta from a schedule, a conditional batch and a
    mixture prior (KL estimated at the draw)."""
    _, mean, log_var = _posteriors(6, 3, seed=2)
    model, x, y = _fixed_model(mean, log_var, _mixture_prior(3))
    beta = {"type": "linear", "start": 1.0, "end": 9.0, "steps": 8}
    objective = BetaTCVAEObjective(beta=beta, alpha=0.5, gamma=2.0, estimator="mss", dataset_size=40)
    result = objective(model, (x, y), 3)
    z, rec, kl = _reference(model, x, y)
    ref = _brute_force_terms(z, mean, log_var, 40)
    log_pz = model.prior.log_prob(z).numpy()
    mi = float(np.mean(ref["log_qz_x"] - ref["log_qz"]))
    tc = float(np.mean(ref["log_qz"] - ref["log_prod_qzd"]))
    dim_kl = float(np.mean(ref["log_prod_qzd"] - log_pz))
    expected = {"reconstruction": rec, "kl": kl, "elbo": -(rec + kl), "mutual_information": mi}
    expected.update(total_correlation=tc, dimension_kl=dim_kl, beta=4.0, loss=rec + 0.5 * mi + 4.0 * tc + 2.0 * dim_kl)
    for key, value in expected.items():
        assert float(result.terms[key]) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert float(result.loss.detach()) == pytest.approx(expected["loss"], rel=1e-9)


def test_betatcvae_dataset_size_sets_the_stratified_weights():
    """Well-separated posteriors: the TC is (D - 1) log N, with N = 100,000 by default and never below the batch."""
    mean = 100.0 * torch.arange(12, dtype=torch.float64).view(4, 3)
    log_var = torch.full_like(mean, math.log(0.01))
    model, x, _ = _fixed_model(mean, log_var)
    cases = [
        (BetaTCVAEObjective(estimator="mss"), 100_000),
        (BetaTCVAEObjective(estimator="mss", dataset_size=40), 40),
        (BetaTCVAEObjective(estimator="mss", dataset_size=2), 4),  # N = max(N, batch size)
        (BetaTCVAEObjective(dataset_size=40), 4),  # "mws": weight 1/M
    ]
    for objective, n in cases:
        t = objective(model, x, 0).terms
        assert float(t["total_correlation"]) == pytest.approx(2 * math.log(n), rel=1e-12), n
        assert float(t["mutual_information"]) == pytest.approx(math.log(n), rel=1e-12), n
    default = BetaTCVAEObjective()(model, x, 0)
    assert float(default.terms["beta"]) == 6.0
    t = default.terms
    expected = t["reconstruction"] + t["mutual_information"] + 6.0 * t["total_correlation"] + t["dimension_kl"]
    assert float(default.loss.detach()) == pytest.approx(float(expected), rel=1e-12)


# ----------------------------------------------------------------------------- DIP-VAE

# Four codes in two dimensions with covariance (normalized by B) [[1, 0.5], [0.5, 2.75]], worked out by hand.
_DIP_MEANS = torch.tensor([[1.0, 2.0], [3.0, 2.0], [1.0, 4.0], [3.0, 6.0]], dtype=torch.float64)
# Posterior variances with batch mean [1, 1.5]: the aggregate posterior's covariance is [[2, 0.5], [0.5, 4.25]].
_DIP_LOG_VAR = torch.tensor([[0.5, 1.0], [0.5, 1.0], [1.5, 2.0], [1.5, 2.0]], dtype=torch.float64).log()


def _dip_expected(kind: str, lambda_od: float, lambda_d: float) -> float:
    cov = np.array([[1.0, 0.5], [0.5, 2.75]]) + (np.diag([1.0, 1.5]) if kind == "ii" else 0.0)
    return lambda_od * 2 * 0.5**2 + lambda_d * ((cov[0, 0] - 1) ** 2 + (cov[1, 1] - 1) ** 2)


def test_dip_penalty_of_hand_computed_covariances():
    assert float(dip_penalty(_DIP_MEANS, _DIP_LOG_VAR, "i", 3.0, 7.0)) == pytest.approx(22.9375, rel=1e-12)
    assert float(dip_penalty(_DIP_MEANS, _DIP_LOG_VAR, "ii", 3.0, 7.0)) == pytest.approx(82.4375, rel=1e-12)
    assert _dip_expected("i", 3.0, 7.0) == pytest.approx(22.9375)
    with pytest.raises(ValueError, match="kind"):
        dip_penalty(_DIP_MEANS, _DIP_LOG_VAR, "iii", 3.0, 7.0)


@pytest.mark.parametrize(
    ("arguments", "kind", "lambda_od", "lambda_d"),
    [
        ({}, "i", 10.0, 100.0),
        ({"kind": "ii"}, "ii", 10.0, 10.0),
        ({"lambda_od": 3.0}, "i", 3.0, 30.0),
        ({"kind": "ii", "lambda_od": 3.0}, "ii", 3.0, 3.0),
        ({"kind": "ii", "lambda_od": 3.0, "lambda_d": 7.0}, "ii", 3.0, 7.0),
        ({"lambda_od": 2.0, "lambda_d": 0.5, "beta": 4.0}, "i", 2.0, 0.5),
    ],
)
def test_dipvae_objective_adds_the_penalty_with_the_papers_default_weights(arguments, kind, lambda_od, lambda_d):
    model, x, y = _fixed_model(_DIP_MEANS, _DIP_LOG_VAR, _mixture_prior(2))
    result = DIPVAEObjective(**arguments)(model, (x, y), 0)
    _, rec, kl = _reference(model, x, y)
    penalty = _dip_expected(kind, lambda_od, lambda_d)
    beta = arguments.get("beta", 1.0)
    expected = {"reconstruction": rec, "kl": kl, "elbo": -(rec + kl), "dip_penalty": penalty}
    expected["loss"] = rec + beta * kl + penalty
    for key, value in expected.items():
        assert float(result.terms[key]) == pytest.approx(value, rel=1e-9), key
    assert float(result.loss.detach()) == pytest.approx(expected["loss"], rel=1e-9)


# ----------------------------------------------------------------------------- FactorVAE


def test_permute_dims_is_reproducible_with_a_generator_and_permutes_each_column():
    z = torch.arange(24.0).view(8, 3)
    first = permute_dims(z, torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    again = permute_dims(z, torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    assert not torch.equal(first, permute_dims(z, torch.Generator().manual_seed(6)))
    for d in range(3):
        assert torch.equal(torch.sort(first[:, d]).values, z[:, d])


def test_discriminator_loss_is_the_mean_of_the_two_cross_entropies():
    joint = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    permuted = torch.tensor([-0.5, 0.8], dtype=torch.float64)
    expected = 0.5 * (
        np.mean([math.log1p(math.exp(-v)) for v in (0.3, -1.2, 2.0)])
        + np.mean([math.log1p(math.exp(v)) for v in (-0.5, 0.8)])
    )
    assert float(discriminator_loss(joint, permuted)) == pytest.approx(expected, rel=1e-12)


class _Pair(nn.Module):
    """What the factorvae objective needs of a model: a VAE and a latent discriminator."""

    def __init__(self, vae, discriminator):
        super().__init__()
        self.vae, self.latent_discriminator = vae, discriminator


def _linear_discriminator(d: int) -> LatentDiscriminator:
    disc = LatentDiscriminator(d, hidden=()).double()
    with torch.no_grad():
        disc.net[0].weight.copy_(torch.tensor([[0.7, -0.4, 1.1]], dtype=torch.float64))
        disc.net[0].bias.fill_(0.2)
    return disc


def test_factorvae_objective_on_a_fixed_model():
    """VAE loss = reconstruction + KL + gamma * mean logit; discriminator loss on the codes and their shuffle."""
    _, mean, log_var = _posteriors(6, 3, seed=3)
    vae, x, y = _fixed_model(mean, log_var, _mixture_prior(3))
    model = _Pair(vae, _linear_discriminator(3))
    gamma = {"type": "linear", "start": 0.0, "end": 10.0, "steps": 10}
    torch.manual_seed(7)
    result = FactorVAEObjective(gamma=gamma)(model, (x, y), 3)
    z, rec, kl = _reference(vae, x, y)
    w = np.array([0.7, -0.4, 1.1])
    tc = float(np.mean(z.numpy() @ w + 0.2))
    torch.manual_seed(7)
    shuffled = permute_dims(z).numpy()
    disc = 0.5 * (np.mean(np.log1p(np.exp(-(z.numpy() @ w + 0.2)))) + np.mean(np.log1p(np.exp(shuffled @ w + 0.2))))
    vae_loss = rec + kl + 3.0 * tc
    expected = {"reconstruction": rec, "kl": kl, "elbo": -(rec + kl), "total_correlation": tc, "gamma": 3.0}
    expected.update(loss=vae_loss, discriminator=disc)
    for key, value in expected.items():
        assert float(result.terms[key]) == pytest.approx(value, rel=1e-9), key
    assert float(result.group_losses["vae"].detach()) == pytest.approx(vae_loss, rel=1e-9)
    assert float(result.group_losses["discriminator"].detach()) == pytest.approx(disc, rel=1e-9)
    assert float(result.loss.detach()) == pytest.approx(vae_loss + disc, rel=1e-9)
    torch.manual_seed(7)
    default = FactorVAEObjective()(model, (x, y), 0)
    assert float(default.terms["gamma"]) == 20.0
    assert float(default.terms["loss"]) == pytest.approx(rec + kl + 20.0 * tc, rel=1e-9)


def test_factorvae_objective_needs_both_the_vae_and_the_discriminator():
    vae, x, _ = _fixed_model(*_posteriors(4, 3)[1:])
    only_vae, only_disc = nn.Module(), nn.Module()
    only_vae.vae = vae
    only_disc.latent_discriminator = _linear_discriminator(3)
    for model in (only_vae, only_disc, vae):
        with pytest.raises(TypeError, match="FactorVAE"):
            FactorVAEObjective()(model, x, 0)


def test_permute_dims_draws_from_the_generator_it_is_given_not_the_global_one():
    z = torch.arange(150.0).view(50, 3)
    torch.manual_seed(1)
    first = permute_dims(z, torch.Generator().manual_seed(0))
    torch.manual_seed(2)
    second = permute_dims(z, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first, z)  # it did shuffle
