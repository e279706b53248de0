"""The variants as compositions: each trains through the one loop, and the mathematics specific to each holds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import vaekit
from vaekit.data import DynamicBinarize, load_digits
from vaekit.evaluate import active_units, frechet_distance, posterior_statistics, train_feature_classifier
from vaekit.models import VAEGAN
from vaekit.objectives import ELBOObjective, IWAEObjective, VAEGANObjective, WAEObjective, kernel_matrix, mmd_unbiased
from vaekit.registry import build
from vaekit.train import fit

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SMALL = {"latent_dim": 4, "hidden": [32]}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.train.x[:300], data.train.y[:300], data.test.float()[:100], data.test.y[:100]


def _train(spec, objective, x, y=None, *, epochs=8, seed=0):
    torch.manual_seed(seed)
    model = vaekit.build_model(spec, [1, 8, 8])
    history = fit(
        model, objective, x, y, epochs=epochs, batch_size=50, lr=3e-3, seed=seed, transform=DynamicBinarize(17)
    )
    return model, history


# ------------------------------------------------------------------------ β-VAE, annealing
def test_beta_vae_trains_and_larger_beta_keeps_less_information(digits):
    x = digits[0]
    plain, h1 = _train({"type": "vae", **SMALL}, ELBOObjective(beta=1.0), x)
    strong, h8 = _train({"type": "vae", **SMALL}, ELBOObjective(beta=8.0), x)
    assert h1.train[-1]["loss"] < h1.train[0]["loss"] - 5
    assert h8.train[-1]["loss"] < h8.train[0]["loss"]
    # beta weighs only the KL: the stronger penalty ends with a smaller KL and a worse reconstruction.
    assert h8.train[-1]["kl"] < 0.5 * h1.train[-1]["kl"]
    assert h8.train[-1]["reconstruction"] > h1.train[-1]["reconstruction"]


def test_cyclical_annealing_restarts_beta_each_period_in_training(digits):
    seen = []

    class Recording(ELBOObjective):
        def __call__(self, model, batch, step):
            result = super().__call__(model, batch, step)
            seen.append(float(result.terms["beta"]))
            return result

    objective = Recording(beta={"type": "cyclical", "period": 6, "ratio": 0.5})
    _train({"type": "vae", **SMALL}, objective, digits[0][:100], epochs=4)  # 2 steps per epoch
    expected = [min((s % 6) / 3, 1.0) for s in range(8)]
    assert seen == pytest.approx(expected)  # 0, 1/3, 2/3, 1, 1, 1, 0, 1/3


def test_linear_warmup_logs_rising_beta(digits):
    _, history = _train(
        {"type": "vae", **SMALL}, ELBOObjective(beta={"type": "linear", "steps": 12}), digits[0], epochs=3
    )
    betas = [e["beta"] for e in history.train]  # per-epoch means of steps 0-5, 6-11, 12-17
    assert betas == pytest.approx([2.5 / 12, 8.5 / 12, 1.0])


def test_free_bits_floor_removes_kl_gradient_below_it():
    torch.manual_seed(0)
    model = vaekit.build_vae([6], latent_dim=3, hidden=(8,))
    x = torch.rand(16, 6).round()
    params = list(model.parameters())
    torch.manual_seed(5)
    floored = ELBOObjective(free_bits=50.0)(model, (x, None), 0)  # a floor above any KL this model has
    torch.testing.assert_close(floored.loss, floored.terms["reconstruction"] + 3 * 50.0)
    floored_grads = torch.autograd.grad(floored.loss, params)
    torch.manual_seed(5)  # the same noise draw
    plain = ELBOObjective(beta=0.0)(model, (x, None), 0)
    plain_grads = torch.autograd.grad(plain.loss, params)
    # Below the floor the KL contributes no gradient: the loss trains like the reconstruction alone.
    for g_floored, g_plain in zip(floored_grads, plain_grads):
        torch.testing.assert_close(g_floored, g_plain)
    torch.manual_seed(5)
    charged = ELBOObjective(free_bits=0.0)(model, (x, None), 0)
    charged_grads = torch.autograd.grad(charged.loss, params)
    assert any(not torch.allclose(a, b) for a, b in zip(charged_grads, plain_grads))


def test_free_bits_with_a_monte_carlo_kl_floors_the_total_at_the_sum_of_floors():
    torch.manual_seed(0)
    model = vaekit.build_vae([6], latent_dim=3, hidden=(8,), prior="mixture")
    x = torch.rand(16, 6).round()
    result = ELBOObjective(free_bits=20.0)(model, (x, None), 0)  # the mixture KL has no per-dimension form
    assert float(result.terms["kl"]) < 60.0
    torch.testing.assert_close(result.loss, result.terms["reconstruction"] + 3 * 20.0)
    total = ELBOObjective(free_bits=20.0, free_bits_groups=1)(model, (x, None), 0)
    torch.testing.assert_close(total.loss, total.terms["reconstruction"] + 20.0)


def test_free_bits_keeps_kl_above_floor_in_training(digits):
    _, plain = _train({"type": "vae", **SMALL}, ELBOObjective(beta=20.0), digits[0])
    _, floored = _train({"type": "vae", **SMALL}, ELBOObjective(beta=20.0, free_bits=1.0), digits[0])
    # A beta of 20 squeezes the KL towards 0; a floor of 1 nat per dimension (4 dims) lets it grow towards 4.
    assert plain.train[-1]["kl"] < 1.0
    assert floored.train[-1]["kl"] > 2 * max(plain.train[-1]["kl"], 0.75), (
        plain.train[-1]["kl"],
        floored.train[-1]["kl"],
    )


def test_capacity_objective_drives_kl_to_the_capacity(digits):
    capacity = {"type": "capacity", "max_capacity": 6.0, "steps": 20}
    _, history = _train(
        {"type": "vae", **SMALL}, ELBOObjective(capacity=capacity, capacity_weight=20.0), digits[0], epochs=12
    )
    assert abs(history.train[-1]["kl"] - 6.0) < 0.6


# ------------------------------------------------------------------------ conditional VAE
def test_cvae_labels_raise_the_likelihood_of_the_true_class(digits):
    x, y, xt, yt = digits
    model, history = _train({"type": "vae", **SMALL, "n_classes": 10}, ELBOObjective(), x, y, epochs=15)
    assert history.train[-1]["loss"] < history.train[0]["loss"] - 5
    torch.manual_seed(0)
    xb = torch.bernoulli(xt)
    right = vaekit.log_likelihood(model, xb, yt, k=20)
    wrong = vaekit.log_likelihood(model, xb, (yt + 5) % 10, k=20)
    assert float((right - wrong).mean()) > 0.5
    assert float((right > wrong).float().mean()) > 0.7
    samples = model.sample(4, y=torch.tensor(3))
    assert samples.shape == (4, 1, 8, 8)


def test_cvae_on_continuous_attributes_follows_the_attribute(digits):
    x = digits[0]
    ink = x.float().mean((1, 2, 3), keepdim=False)[:, None] / 16  # (N, 1): how much ink, a continuous attribute
    attributes = (ink - ink.mean()) / ink.std()
    model, history = _train({"type": "vae", **SMALL, "n_attributes": 1}, ELBOObjective(), x, attributes, epochs=15)
    assert history.train[-1]["loss"] < history.train[0]["loss"] - 5
    torch.manual_seed(0)
    levels = torch.tensor([-1.5, 0.0, 1.5])
    ink_of_samples = [float(model.sample(200, y=torch.full((200, 1), float(a))).mean()) for a in levels]
    assert ink_of_samples[0] < ink_of_samples[1] < ink_of_samples[2]


# ------------------------------------------------------------------------ IWAE
def test_iwae_objective_trains_and_its_bound_rises_with_k(digits):
    x, _, xt, _ = digits
    model, history = _train({"type": "vae", **SMALL}, IWAEObjective(k=5), x)
    assert history.train[-1]["iwae_bound"] > history.train[0]["iwae_bound"] + 5
    torch.manual_seed(0)
    xb = torch.bernoulli(xt)
    bounds = [float(vaekit.log_likelihood(model, xb, k=k).mean()) for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2]


# ------------------------------------------------------------------------ WAE-MMD
def _brute_force_mmd(x, y, c_values):
    def k(a, b):
        return sum(c / (c + float(((a - b) ** 2).sum())) for c in c_values)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_matches_brute_force_computation():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)
    scales = (0.5, 1.0, 2.0)
    expected = _brute_force_mmd(x, y, [s * 2 * 3 for s in scales])
    assert float(mmd_unbiased(x, y, scales=scales)) == pytest.approx(expected, rel=1e-10)
    # The IMQ kernel: C / (C + d^2), one term per scale.
    k = kernel_matrix(x[:1], y[:1], scales=(1.0,))
    assert float(k) == pytest.approx(6.0 / (6.0 + float(((x[0] - y[0]) ** 2).sum())))


def test_mmd_u_statistic_is_unbiased_and_detects_a_difference():
    gen = torch.Generator().manual_seed(0)
    n, draws, d = 16, 400, 4
    same, biased, shifted = [], [], []
    for _ in range(draws):
        a, b = (
            torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randn(n, d, generator=gen, dtype=torch.float64),
        )
        same.append(float(mmd_unbiased(a, b)))
        k_ab = torch.cat([a, b])
        kk = kernel_matrix(k_ab, k_ab)
        biased.append(float(kk[:n, :n].mean() + kk[n:, n:].mean() - 2 * kk[:n, n:].mean()))  # V-statistic
        shifted.append(float(mmd_unbiased(a, b + 1.0)))
    same_t, biased_t = torch.tensor(same), torch.tensor(biased)
    stderr = float(same_t.std()) / math.sqrt(draws)
    assert abs(float(same_t.mean())) < 3 * stderr  # expectation 0: unbiased
    assert float(biased_t.mean()) > 10 * stderr  # the V-statistic is biased upward: the test could fail
    assert float(torch.tensor(shifted).mean()) > 20 * stderr
    assert min(same) < 0  # single U-statistics can be negative


@pytest.mark.parametrize("posterior", ["deterministic", "gaussian"])
def test_wae_trains_matches_the_prior_and_samples(digits, posterior):
    x = digits[0]
    model, history = _train({"type": "wae", **SMALL, "posterior": posterior}, WAEObjective(weight=10.0), x)
    first, last = history.train[0], history.train[-1]
    assert last["loss"] < first["loss"] - 5
    assert first["reconstruction"] - last["reconstruction"] > 5
    samples = model.sample(16)
    assert samples.shape == (16, 1, 8, 8) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    # Encoded test data look like prior draws: their MMD is small next to that of shifted codes.
    model.eval()
    with torch.no_grad():
        codes = model.encode(digits[2]).rsample()  # z ~ q(z|x): the aggregate posterior
    prior = torch.randn(100, 4)
    assert float(mmd_unbiased(codes, prior)) < 0.25 * float(mmd_unbiased(codes + 2.0, prior))


# ------------------------------------------------------------------------ priors with every model
@pytest.mark.parametrize("prior", ["mixture", "vamp"])
@pytest.mark.parametrize("model_type", ["vae", "wae", "vaegan"])
def test_learned_priors_train_and_evaluate_with_every_model(digits, prior, model_type):
    x, _, xt, _ = digits
    spec = {"type": model_type, "latent_dim": 4, "hidden": [32], "prior": prior}
    objectives = {
        "vae": IWAEObjective(k=3),
        "wae": WAEObjective(),
        "vaegan": VAEGANObjective(pixel_weight=1.0),
    }
    if model_type == "vaegan":
        spec.update(architecture="mlp", discriminator_hidden=32)
    if model_type == "wae":
        spec["posterior"] = "gaussian"
    model, history = _train(spec, objectives[model_type], x[:200], epochs=4)
    assert all(math.isfinite(v) for e in history.train for v in e.values())
    torch.manual_seed(0)
    ll = vaekit.log_likelihood(model, torch.bernoulli(xt[:20]), k=10)
    assert torch.isfinite(ll).all()
    assert model.sample(5).shape == (5, 1, 8, 8)


# ------------------------------------------------------------------------ VAE-GAN
def _small_vaegan():
    torch.manual_seed(0)
    return vaekit.build_model(
        {
            "type": "vaegan",
            "latent_dim": 4,
            "hidden": [32],
            "channels": [8, 16],
            "discriminator_channels": [8, 16],
            "discriminator_hidden": 32,
        },
        [1, 8, 8],
    )


def test_vaegan_parameter_groups_partition_the_model():
    model = _small_vaegan()
    groups = model.parameter_groups()
    assert set(groups) == {"encoder", "decoder", "discriminator"}
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}


def test_vaegan_losses_follow_the_three_way_weighting():
    model = _small_vaegan()
    with torch.no_grad():  # a discriminator that cannot tell: logits 0, so every GAN term is log 2
        model.discriminator.head.weight.zero_()
        model.discriminator.head.bias.zero_()
    x = torch.rand(8, 1, 8, 8).round()
    objective = VAEGANObjective(beta=2.0, gamma=0.5, gan_weight=3.0, pixel_weight=0.25)
    result = objective(model, (x, None), 0)
    t, g = result.terms, result.group_losses
    assert float(t["discriminator"]) == pytest.approx(3 * math.log(2), rel=1e-6)
    assert float(t["generator_gan"]) == pytest.approx(2 * math.log(2), rel=1e-6)
    feature, kl, pixel = t["feature_reconstruction"], t["kl"], t["reconstruction"]
    torch.testing.assert_close(g["encoder"].detach(), 2.0 * kl + feature + 0.25 * pixel)
    torch.testing.assert_close(g["decoder"].detach(), 0.5 * feature + 0.25 * pixel + 3.0 * t["generator_gan"])
    torch.testing.assert_close(g["discriminator"].detach(), t["discriminator"])
    # The feature loss is half the squared distance of the discriminator's features.
    torch.manual_seed(1)
    out = model.vae(x)
    torch.manual_seed(1)
    again = objective(model, (x, None), 0)
    f_real, f_rec = model.discriminator(x).features, model.discriminator(out.p_x.mean).features
    expected = 0.5 * (f_rec - f_real).pow(2).sum(-1).mean()
    torch.testing.assert_close(again.terms["feature_reconstruction"], expected.detach(), rtol=1e-4, atol=1e-5)


def test_vaegan_trains_with_three_optimizers_in_the_one_loop(digits):
    x = digits[0]
    model = _small_vaegan()
    before = {name: [p.detach().clone() for p in ps] for name, ps in model.parameter_groups().items()}
    history = fit(
        model, VAEGANObjective(pixel_weight=1.0), x, epochs=6, batch_size=50, lr=2e-3, transform=DynamicBinarize(17)
    )
    for name, params in model.parameter_groups().items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], params)), name
    assert history.train[-1]["reconstruction"] < history.train[0]["reconstruction"] - 3
    assert 0.0 < history.train[-1]["d_real"] < 1.0


def test_vaegan_saves_and_loads(tmp_path):
    model = _small_vaegan().eval()
    model.save(tmp_path / "m")
    loaded = vaekit.load(tmp_path / "m")
    assert isinstance(loaded, VAEGAN)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model.reconstruct(x), loaded.reconstruct(x))
    torch.testing.assert_close(model.discriminator(x).logits, loaded.discriminator(x).logits)


# ------------------------------------------------------------------------ sample quality
def test_frechet_distance_ranks_real_above_noise(digits):
    data = load_digits()
    x, y = data.train.float(), data.train.y
    classifier = train_feature_classifier(x, y, epochs=3, seed=0)
    assert hasattr(classifier, "features") and classifier.features(x[:2]).dim() == 2
    real, other = data.test.float()[:200], data.validation.float()[:200]
    assert frechet_distance(classifier, real, real) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    noise = torch.rand(200, 1, 8, 8)
    # More noise mixed into real digits must mean a larger distance.
    distances = [frechet_distance(classifier, real, (1 - w) * other + w * noise) for w in (0.0, 0.25, 0.5, 1.0)]
    assert distances == sorted(distances), distances
    assert distances[0] < 0.2 * distances[2]


def test_active_units_of_a_collapsed_beta_vae_are_few(digits):
    x, _, xt, _ = digits
    model, _ = _train({"type": "vae", "latent_dim": 8, "hidden": [32]}, ELBOObjective(beta=30.0), x)
    means, _ = posterior_statistics(model, xt)
    assert active_units(means)[0] <= 2


# ------------------------------------------------------------------------ configs
def test_every_variant_config_builds_its_model_and_objective():
    config = pytest.importorskip("vaekit.config")
    names = [
        "beta_vae",
        "beta_vae_capacity",
        "kl_cyclical",
        "free_bits",
        "cvae",
        "iwae",
        "wae_mmd",
        "vampprior",
        "mixture_prior",
        "vaegan",
    ]
    for name in names:
        run = config.load_config(CONFIGS / f"{name}.yaml")
        spec = config.model_spec(run, n_classes=10, image_data=True)
        model = vaekit.build_model(spec, [1, 8, 8])
        objective = build("objective", config.objective_spec(run))
        assert callable(objective) and hasattr(model, "sample"), name
