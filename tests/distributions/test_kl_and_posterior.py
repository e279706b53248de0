"""KL divergences and the reparameterized posterior."""

import math

import pytest
import torch

from vaekit.distributions import MixtureOfGaussiansPrior, StandardNormalPrior, diagonal_gaussian, kl_terms
from vaekit.models import build_vae


def test_analytic_kl_matches_closed_form_and_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5) * 0.5
    q = diagonal_gaussian(mu, logvar)
    p = StandardNormalPrior(5)()
    kl = kl_terms(q, p)
    closed = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    assert kl.analytic
    torch.testing.assert_close(kl.per_dim, closed)
    torch.testing.assert_close(kl.total, closed.sum(-1))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).mean(0)
    torch.testing.assert_close(mc, kl.total, atol=0.03, rtol=0.01)


def test_monte_carlo_kl_for_mixture_prior_is_unbiased():
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(1, components=3)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-2.0], [0.5], [3.0]]))
        prior.log_stds.copy_(torch.tensor([[-0.5], [0.0], [0.3]]))
        prior.logits.copy_(torch.tensor([0.2, -0.4, 0.1]))
    q = diagonal_gaussian(torch.tensor([[0.7]]), torch.tensor([[-1.0]]))
    p = prior()
    # Reference by quadrature on a fine grid.
    with torch.no_grad():
        grid = torch.linspace(-12, 12, 200_001, dtype=torch.float64)[:, None]
        log_q = q.log_prob(grid.float()).double()
        log_p = p.log_prob(grid.float()).double()
        reference = float((log_q.exp() * (log_q - log_p)).sum() * (grid[1, 0] - grid[0, 0]))
        single = kl_terms(q, p, q.rsample())
        assert not single.analytic and single.total.shape == (1,)
        # Averaging many single-draw estimates (leading sample dimension) approaches the true KL.
        estimate = kl_terms(q, p, q.rsample((100_000,))).total
    assert abs(float(estimate) - reference) < 0.02


def test_kl_without_sample_needs_z():
    prior = MixtureOfGaussiansPrior(2, components=2)
    q = diagonal_gaussian(torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="closed form"):
        kl_terms(q, prior())


def test_vamp_prior_is_mixture_of_encoder_posteriors():
    torch.manual_seed(0)
    model = build_vae([6], latent_dim=2, hidden=(8,), prior={"type": "vamp", "components": 3})
    p = model.prior()
    q_u = model.encode(model.prior.pseudo_inputs, check=False)
    z = torch.randn(5, 2)
    manual = torch.logsumexp(q_u.log_prob(z[:, None, :]), dim=1) - math.log(3)
    torch.testing.assert_close(p.log_prob(z), manual)
    assert model.prior.sample(4).shape == (4, 2)


def test_gradients_flow_through_reparameterized_sample():
    torch.manual_seed(0)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    torch.manual_seed(1)
    z = diagonal_gaussian(mu, logvar).rsample()
    torch.manual_seed(1)
    eps = torch.randn(4, 3)
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(4, 3))
    torch.testing.assert_close(logvar.grad, (0.5 * torch.exp(0.5 * logvar) * eps).detach())


def test_model_gradients_reach_encoder_through_sample():
    torch.manual_seed(0)
    model = build_vae([5], latent_dim=2, hidden=(8,))
    out = model(torch.rand(3, 5))
    out.p_x.log_prob(torch.rand(3, 5)).sum().backward()  # reconstruction only: no KL path to the encoder
    assert model.encoder.net[0].weight.grad.abs().sum() > 0
    assert model.posterior.head.weight.grad.abs().sum() > 0
