"""Posterior heads and priors: means, scales, shapes and log-densities against hand formulas."""

import math

import pytest
import torch

from vaekit.distributions import (
    BernoulliLikelihood,
    DiagonalGaussianPosterior,
    GaussianLikelihood,
    MixtureOfGaussiansPrior,
    StandardNormalPrior,
    diagonal_gaussian,
)
from vaekit.models import build_vae

LOG_2PI = math.log(2 * math.pi)


def normal_log_density(z, mu, sd):
    return -0.5 * ((z - mu) / sd) ** 2 - torch.log(sd) - 0.5 * LOG_2PI


def test_diagonal_gaussian_has_mean_mu_and_std_exp_half_logvar():
    mu = torch.tensor([[0.0, 1.0, -2.0], [0.5, -0.5, 3.0], [1.0, 2.0, 0.0], [-1.0, 0.0, 0.25]])
    logvar = torch.tensor([[0.0, 2.0, -2.0], [1.0, -1.0, 0.5], [0.2, 0.0, -0.4], [-3.0, 1.5, 0.0]])
    q = diagonal_gaussian(mu, logvar)
    assert q.batch_shape == (4,) and q.event_shape == (3,)
    torch.testing.assert_close(q.mean, mu)
    torch.testing.assert_close(q.stddev, torch.exp(0.5 * logvar))
    z = torch.tensor([0.3, -0.2, 1.0])
    expected = normal_log_density(z, mu, torch.exp(0.5 * logvar)).sum(-1)
    torch.testing.assert_close(q.log_prob(z), expected)


def test_gaussian_posterior_head_splits_mean_then_log_variance_and_clamps_it():
    """in 3 -> latent 2: the first two outputs are mu, the last two the log-variance, clamped to [-1, 0.5]."""
    head = DiagonalGaussianPosterior(3, 2, min_logvar=-1.0, max_logvar=0.5)
    assert head.latent_dim == 2 and head.head.in_features == 3 and head.head.out_features == 4
    with torch.no_grad():
        head.head.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, -1.0]]))
        head.head.bias.zero_()
    h = torch.tensor([[[0.1, 0.2, 2.0], [0.3, 0.4, -3.0], [0.5, 0.6, 0.2]]]).expand(2, 3, 3)  # (2, 3, 3)
    q = head(h)
    assert q.batch_shape == (2, 3) and q.event_shape == (2,)
    torch.testing.assert_close(q.mean, h[..., :2])
    logvar = torch.tensor([[0.5, -1.0], [-1.0, 0.5], [0.2, -0.2]]).expand(2, 3, 2)
    torch.testing.assert_close(q.stddev, torch.exp(0.5 * logvar))


def test_default_log_variance_bounds_are_minus_20_and_10():
    head = DiagonalGaussianPosterior(1, 1)
    with torch.no_grad():
        head.head.weight.copy_(torch.tensor([[0.0], [1.0]]))
        head.head.bias.zero_()
    q = head(torch.tensor([[-50.0], [50.0], [3.0]]))
    torch.testing.assert_close(q.variance[:, 0], torch.exp(torch.tensor([-20.0, 10.0, 3.0])))
    assert DiagonalGaussianPosterior(2, 3)(torch.randn(5, 2)).mean.shape == (5, 3)


def test_standard_normal_prior_is_zero_mean_unit_scale_with_named_buffers():
    prior = StandardNormalPrior(3)
    assert prior.latent_dim == 3
    assert set(prior.state_dict()) == {"loc", "scale"}  # saved model files hold these names
    p = prior()
    assert p.batch_shape == () and p.event_shape == (3,)
    torch.testing.assert_close(p.mean, torch.zeros(3))
    torch.testing.assert_close(p.stddev, torch.ones(3))
    z = torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(p.log_prob(z), torch.tensor([-0.5 * 5.25, 0.0]) - 1.5 * LOG_2PI)


def test_non_finite_values_propagate_to_log_probabilities_instead_of_raising():
    """A NaN from a network must reach the loss as NaN (the training guard names the term), not raise."""
    nan = torch.full((2, 3), math.nan)
    q = diagonal_gaussian(nan, torch.zeros(2, 3))
    z = q.rsample()
    assert z.isnan().all() and q.log_prob(z).isnan().all()
    assert StandardNormalPrior(3)().log_prob(z).isnan().all()
    mixture = MixtureOfGaussiansPrior(3, components=2)
    with torch.no_grad():
        for parameter in mixture.parameters():
            parameter.fill_(math.nan)
    assert mixture().log_prob(z).isnan().all()
    assert GaussianLikelihood()(nan, 1).log_prob(nan).isnan().all()
    assert BernoulliLikelihood()(nan, 1).log_prob(torch.ones(2, 3)).isnan().all()


def test_default_gaussian_likelihood_is_unit_variance():
    x, mu = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, -1.0]])
    torch.testing.assert_close(GaussianLikelihood()(mu, 1).log_prob(x), torch.tensor([-2.5 - LOG_2PI]))


def test_bernoulli_log_prob_keeps_the_logits_dtype():
    lp = BernoulliLikelihood()(torch.zeros(2, 3), 1).log_prob(torch.ones(2, 3, dtype=torch.float64))
    assert lp.dtype == torch.float32
    torch.testing.assert_close(lp, torch.full((2,), 3 * math.log(0.5)))


def test_mixture_prior_samples_have_the_component_spread():
    """Two far-apart components with stds 0.5 and 2 (x temperature 0.5): per-component mean and std of draws."""
    torch.manual_seed(0)
    prior = MixtureOfGaussiansPrior(2, components=2)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, math.log(3.0)]))
        prior.means.copy_(torch.tensor([[-100.0, 0.0], [100.0, 5.0]]))
        prior.log_stds.copy_(torch.log(torch.tensor([[0.5, 0.5], [2.0, 2.0]])))
    z = prior.sample(40_000, temperature=0.5)
    assert z.shape == (40_000, 2)
    first = z[:, 0] < 0
    assert abs(float(first.float().mean()) - 0.25) < 0.01
    torch.testing.assert_close(z[first].mean(0), torch.tensor([-100.0, 0.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z[~first].mean(0), torch.tensor([100.0, 5.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z[first].std(0), torch.tensor([0.25, 0.25]), atol=0.01, rtol=0)
    torch.testing.assert_close(z[~first].std(0), torch.tensor([1.0, 1.0]), atol=0.02, rtol=0)


def test_mixture_prior_initial_means_scale_with_spread():
    torch.manual_seed(0)
    wide = MixtureOfGaussiansPrior(4, components=500, spread=3.0)
    assert abs(float(wide.means.detach().std()) - 3.0) < 0.1
    assert wide.means.abs().max() < 20  # a division by the normal draws would give huge means
    torch.testing.assert_close(wide.log_stds, torch.zeros(500, 4))


def vamp_model(components=3, latent_dim=1):
    torch.manual_seed(0)
    return build_vae([4], latent_dim=latent_dim, hidden=(6,), prior={"type": "vamp", "components": components})


def test_vamp_prior_draws_have_the_mixture_mean_and_tempered_variance():
    """p(z) = mean_k N(mu_k, s_k^2), temperature t: mean = mean_k mu_k, variance mean_k(t^2 s_k^2 + mu_k^2) - m^2."""
    model = vamp_model()
    with torch.no_grad():
        model.prior.pseudo_inputs.copy_(torch.tensor([[0.0] * 4, [1.0] * 4, [0.0, 1.0, 0.0, 1.0]]) * 3)
        q = model.encode(model.prior.pseudo_inputs, check=False)
    mu, sd = q.mean[:, 0], q.stddev[:, 0]
    assert float(mu.max() - mu.min()) > 0.3  # distinct components
    torch.manual_seed(1)
    z = model.prior.sample(60_000, temperature=0.5)
    assert z.shape == (60_000, 1)
    m = mu.mean()
    var = (0.25 * sd**2 + mu**2).mean() - m**2
    assert abs(float(z.mean()) - float(m)) < 0.01
    assert abs(float(z.var()) / float(var) - 1) < 0.03
    unit = model.prior.sample(60_000)  # default temperature 1
    assert abs(float(unit.var()) / float((sd**2 + mu**2).mean() - m**2) - 1) < 0.03


def test_vamp_prior_pseudo_inputs_start_near_one_half():
    from vaekit.distributions import VampPrior

    torch.manual_seed(0)
    prior = VampPrior(2, [50], components=40)
    assert prior.pseudo_inputs.shape == (40, 50)
    assert abs(float(prior.pseudo_inputs.detach().mean()) - 0.5) < 0.01
    assert abs(float(prior.pseudo_inputs.detach().std()) - 0.05) < 0.005
    with pytest.raises(RuntimeError, match=r"^VampPrior is not attached to a model; build it through VAE\(\.\.\.\)$"):
        prior()
    prior.attach(torch.nn.Linear(1, 1))  # a model without a conditioner attribute is unconditional


def test_vamp_prior_refuses_a_conditional_model_and_ignores_the_data_range_of_pseudo_inputs():
    with pytest.raises(
        ValueError, match=r"^the VampPrior cannot be used with a conditional model \(its q\(z\|x\) needs a label\)$"
    ):
        build_vae([4], latent_dim=2, hidden=(6,), prior={"type": "vamp", "components": 3}, n_classes=3)
    model = vamp_model(components=2, latent_dim=2)
    with torch.no_grad():
        model.prior.pseudo_inputs.fill_(1.5)  # free parameters, outside the Bernoulli data range
    assert torch.isfinite(model.prior().log_prob(torch.zeros(3, 2))).all()
    assert model.prior.sample(3).shape == (3, 2)


def test_prior_defaults_unit_spread_unit_temperature_and_fifty_pseudo_inputs():
    from vaekit.distributions import VampPrior

    torch.manual_seed(0)
    mixture = MixtureOfGaussiansPrior(4, components=500)
    assert mixture.logits.shape == (500,)
    assert abs(float(mixture.means.detach().std()) - 1.0) < 0.05
    with torch.no_grad():
        mixture.means.zero_()
        mixture.log_stds.fill_(math.log(3.0))
    assert abs(float(mixture.sample(20_000).std()) - 3.0) < 0.05
    assert VampPrior(2, [3]).pseudo_inputs.shape == (50, 3)


def test_point_mass_shapes_and_refusals():
    from vaekit.distributions import PointMass

    loc = torch.arange(24.0).view(2, 3, 4)
    q = PointMass(loc)
    assert q.batch_shape == (2, 3) and q.event_shape == (4,)
    single = PointMass(torch.tensor([1.0, 2.0]))
    assert single.batch_shape == () and single.event_shape == (2,)
    assert torch.equal(single.rsample((3,)), torch.tensor([[1.0, 2.0]] * 3))
    with pytest.raises(ValueError, match=r"at least one \(event\) dimension"):
        PointMass(torch.tensor(1.0))
    with pytest.raises(ValueError, match="no differential entropy"):
        q.entropy()
    with pytest.raises(ValueError, match="has no density"):
        q.log_prob(loc)
