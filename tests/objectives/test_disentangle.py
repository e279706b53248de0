"""beta-TCVAE, DIP-VAE and FactorVAE: the estimators against closed forms, and training with two groups."""

import math

import numpy as np
import pytest
import torch

from vaekit.models import build_factorvae, build_vae
from vaekit.models.factorvae import LatentDiscriminator
from vaekit.objectives import (
    BetaTCVAEObjective,
    DIPVAEObjective,
    FactorVAEObjective,
    dip_penalty,
    permute_dims,
    total_correlation_terms,
)
from vaekit.objectives.disentangle import discriminator_loss, discriminator_tc
from vaekit.train import fit


def _gaussian_tc(cov: torch.Tensor) -> float:
    """Closed-form total correlation of a Gaussian: 1/2 (sum log diag - log det)."""
    return 0.5 * float(torch.log(torch.diagonal(cov)).sum() - torch.logdet(cov))


def _correlated(n: int, rho: float, dim: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of a Gaussian with unit variances and correlation rho between dimensions 0 and 1."""
    cov = torch.eye(dim, dtype=torch.float64)
    cov[0, 1] = cov[1, 0] = rho
    chol = torch.linalg.cholesky(cov)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) @ chol.T, cov


@pytest.mark.parametrize("estimator", ["mws", "mss"])
@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_tc_estimators_match_the_closed_form_of_a_correlated_gaussian(estimator, rho):
    # Posteriors N(x_n, s^2 I) around x_n ~ N(0, C): the aggregate posterior is ~ N(0, C + s^2 I).
    g = torch.Generator().manual_seed(0)
    n, s = 3000, 0.3
    means, cov = _correlated(n, rho, 3, g)
    log_var = torch.full_like(means, 2 * math.log(s))
    z = means + s * torch.randn(means.shape, generator=g, dtype=torch.float64)
    terms = total_correlation_terms(z, means, log_var, dataset_size=n, estimator=estimator)
    tc = float((terms["log_qz"] - terms["log_prod_qzd"]).mean())
    expected = _gaussian_tc(cov + s**2 * torch.eye(3, dtype=torch.float64))
    assert tc == pytest.approx(expected, abs=0.06)


def test_tc_estimator_grows_with_correlation_and_rejects_bad_input():
    g = torch.Generator().manual_seed(1)
    values = []
    for rho in (0.0, 0.5, 0.9):
        means, _ = _correlated(1000, rho, 2, g)
        log_var = torch.full_like(means, math.log(0.05))
        t = total_correlation_terms(means, means, log_var, 1000, "mss")
        values.append(float((t["log_qz"] - t["log_prod_qzd"]).mean()))
    assert values[0] < values[1] < values[2]
    with pytest.raises(ValueError, match="estimator"):
        total_correlation_terms(means, means, log_var, 1000, "nope")


def test_betatcvae_terms_add_up_to_the_kl_estimate():
    # With alpha = beta = gamma = 1, MI + TC + dimension-wise KL telescopes to E[log q(z|x) - log p(z)].
    torch.manual_seed(0)
    model = build_vae([12], latent_dim=3, hidden=(16,), likelihood="bernoulli")
    x = torch.rand(64, 12).round()
    objective = BetaTCVAEObjective(beta=1.0, dataset_size=1000)
    torch.manual_seed(1)
    result = objective(model, x, 0)
    terms = result.terms
    total = (terms["mutual_information"] + terms["total_correlation"] + terms["dimension_kl"]).detach()
    assert float(result.loss.detach()) == pytest.approx(float(terms["reconstruction"] + total), rel=1e-5)
    torch.manual_seed(1)
    out = model(x, check=False)
    mc_kl = (out.q_z.log_prob(out.z) - out.p_z.log_prob(out.z)).mean().detach()
    assert float(total) == pytest.approx(float(mc_kl), abs=1e-4)


def test_dip_penalty_is_zero_at_identity_covariance_and_exact_otherwise():
    g = torch.Generator().manual_seed(0)
    white = torch.randn(4000, 3, generator=g, dtype=torch.float64)
    white = white - white.mean(0)
    white = white @ torch.linalg.inv(torch.linalg.cholesky(white.T @ white / 4000)).T  # covariance exactly I
    zero = torch.full_like(white, -30.0)
    assert float(dip_penalty(white, zero, "i", 10.0, 100.0)) == pytest.approx(0.0, abs=1e-8)
    # Scale dimension 0 by 2 and mix 0.5 of it into dimension 1: covariance [[4, 1, 0], [1, 1.25, 0], [0, 0, 1]].
    mixed = white.clone()
    mixed[:, 0] = 2 * white[:, 0]
    mixed[:, 1] = white[:, 1] + 0.5 * white[:, 0]
    expected_i = 10.0 * (2 * 1.0**2) + 100.0 * ((4 - 1) ** 2 + 0.25**2)
    assert float(dip_penalty(mixed, zero, "i", 10.0, 100.0)) == pytest.approx(expected_i, rel=1e-6)
    # DIP-II adds the mean posterior variance to the diagonal: variances 0.5 make it [[4.5, 1], [1, 1.75]].
    half = torch.full_like(white, math.log(0.5))
    expected_ii = 2.0 * 2 + 1.0 * (3.5**2 + 0.75**2 + 0.5**2)
    assert float(dip_penalty(mixed, half, "ii", 2.0, 1.0)) == pytest.approx(expected_ii, rel=1e-6)


def test_dipvae_objective_adds_its_penalty_to_the_elbo():
    torch.manual_seed(0)
    model = build_vae([12], latent_dim=3, hidden=(16,))
    x = torch.rand(32, 12).round()
    torch.manual_seed(1)
    result = DIPVAEObjective(kind="ii", lambda_od=5.0)(model, x, 0)
    t = result.terms
    assert float(result.loss.detach()) == pytest.approx(
        float(t["reconstruction"] + t["kl"] + t["dip_penalty"]), rel=1e-6
    )
    assert float(t["dip_penalty"]) > 0
    with pytest.raises(ValueError, match="kind"):
        DIPVAEObjective(kind="iii")


def test_permute_dims_keeps_marginals_and_breaks_dependence():
    g = torch.Generator().manual_seed(0)
    z, _ = _correlated(5000, 0.9, 2, g)
    shuffled = permute_dims(z, g)
    for d in range(2):
        assert torch.equal(torch.sort(shuffled[:, d]).values, torch.sort(z[:, d]).values)
    assert abs(float(torch.corrcoef(shuffled.T)[0, 1])) < 0.05 < 0.85 < float(torch.corrcoef(z.T)[0, 1])


def _train_discriminator(rho: float, steps: int = 300) -> float:
    """Train a latent discriminator on one correlated Gaussian; its TC estimate on fresh draws."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    disc = LatentDiscriminator(2, hidden=(32, 32))
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3)
    for _ in range(steps):
        z = _correlated(256, rho, 2, g)[0].float()
        loss = discriminator_loss(disc(z), disc(permute_dims(z, g)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(discriminator_tc(disc(_correlated(4000, rho, 2, g)[0].float())))


def test_factorvae_discriminator_estimate_rises_with_correlation():
    estimates = [_train_discriminator(rho) for rho in (0.0, 0.5, 0.9)]
    assert estimates[0] < estimates[1] < estimates[2]
    assert abs(estimates[0]) < 0.1
    # The true TC at rho = 0.9 is -1/2 log(1 - 0.81) = 0.83 nats; the density-ratio estimate approaches it.
    assert estimates[2] == pytest.approx(-0.5 * math.log(1 - 0.81), abs=0.3)


def test_factorvae_trains_both_groups_in_the_one_loop():
    torch.manual_seed(0)
    model = build_factorvae([16], latent_dim=3, architecture="mlp", hidden=(16,), discriminator_hidden=(8,))
    assert set(model.parameter_groups()) == {"vae", "discriminator"}
    x = torch.rand(128, 16).round()
    result = FactorVAEObjective(gamma=10.0)(model, x, 0)
    t = result.terms
    expected = float(t["reconstruction"] + t["kl"] + 10.0 * t["total_correlation"])
    assert float(result.group_losses["vae"].detach()) == pytest.approx(expected, rel=1e-5)
    before = {k: [p.detach().clone() for p in v] for k, v in model.parameter_groups().items()}
    history = fit(model, FactorVAEObjective(gamma=10.0), x, epochs=2, batch_size=32, progress=False)
    assert history.steps == 8 and np.isfinite(history.train[-1]["discriminator"])
    for name, params in model.parameter_groups().items():
        assert any(not torch.equal(a, b) for a, b in zip(params, before[name])), name
    with pytest.raises(TypeError, match="FactorVAE"):
        FactorVAEObjective()(build_vae([16], latent_dim=3, hidden=(8,)), x, 0)
