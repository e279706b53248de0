"""The NVAE-style hierarchical VAE: KL per group, training, spectral regularization, gradient skipping,
sampling with temperature, the evaluator, save/load."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from vaekit.data import DynamicBinarize, load_digits
from vaekit.distributions import diagonal_gaussian, kl_terms
from vaekit.models import HierarchicalVAE
from vaekit.objectives import HierarchicalELBO, SpectralPenalty
from vaekit.objectives.elbo import kl_balance_coefficients, kl_per_group
from vaekit.objectives.hierarchical import spectral_weights
from vaekit.train import fit

TINY = {"channels": 8, "latent_channels": 2, "groups_per_scale": [1, 2], "preprocess_scales": 1, "expansion": 2}


def tiny_model(seed: int = 0, **overrides: object) -> HierarchicalVAE:
    torch.manual_seed(seed)
    return vaekit.build_model({"type": "hierarchical", **TINY, **overrides}, [1, 8, 8])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # These tiny networks run fastest on one thread, above all on a shared, busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_digits().train.x[:256]  # uint8, (256, 1, 8, 8), levels 0..16


def binary(digits: torch.Tensor, n: int = 16) -> torch.Tensor:
    return torch.bernoulli(digits[:n].float() / 16, generator=torch.Generator().manual_seed(1))


def test_layout_of_groups() -> None:
    model = tiny_model()
    # 8x8 -> 4x4 (preprocessing); latent scales 2x2 (top, one group) and 4x4 (two groups).
    assert model.group_shapes == [(2, 2, 2), (2, 4, 4), (2, 4, 4)]
    assert model.group_sizes == (8, 32, 32) and model.latent_dim == 72
    assert model.conditioner is None and model.data_shape == (1, 8, 8)


@pytest.mark.parametrize("resampling", ["conv", "shuffle"])
def test_odd_image_sizes_round_trip(resampling: str) -> None:
    torch.manual_seed(0)
    model = vaekit.build_model({"type": "hierarchical", **TINY, "resampling": resampling}, [2, 7, 5]).eval()
    x = torch.rand(3, 2, 7, 5).round()
    assert model.reconstruct(x).shape == (3, 2, 7, 5)
    assert model.sample(2).shape == (2, 2, 7, 5)
    assert model.log_importance_weights(x, 4).shape == (4, 3)


def test_kl_per_group_matches_closed_form_and_monte_carlo(digits: torch.Tensor) -> None:
    model = tiny_model().eval()
    x = binary(digits, 4)
    with torch.no_grad():
        out = model(x, n_samples=1000, check=False)  # z: (S, B, D)
    sizes = out.group_sizes
    kl = kl_terms(out.q_z, out.p_z, out.z)
    groups = kl_per_group(kl.per_dim, sizes)  # (S, B, L)
    # The top group's prior is N(0, I): its KL is the textbook formula.
    mu = out.q_z.base_dist.loc[..., : sizes[0]]
    sigma = out.q_z.base_dist.scale[..., : sizes[0]]
    by_hand = 0.5 * (mu**2 + sigma**2 - 1 - 2 * sigma.log()).sum(-1)
    torch.testing.assert_close(groups[..., 0], by_hand, rtol=1e-4, atol=1e-4)
    assert torch.allclose(out.p_z.base_dist.loc[..., : sizes[0]], torch.zeros(()))
    # Every group: the analytic KL (given the drawn upper groups) averages to the Monte Carlo
    # estimate E[log q(z_l|x, z_<l) - log p(z_l|z_<l)].
    log_q = out.q_z.base_dist.log_prob(out.z)  # (S, B, D)
    log_p = out.p_z.base_dist.log_prob(out.z)
    mc = kl_per_group(log_q - log_p, sizes)  # (S, B, L)
    analytic_mean, mc_mean = groups.mean(0), mc.mean(0)  # (B, L)
    standard_error = mc.std(0) / math.sqrt(mc.shape[0])
    assert (analytic_mean - mc_mean).abs().le(5 * standard_error + 1e-3).all()
    # The lower groups' priors depend on the drawn upper groups: they differ across draws.
    assert out.p_z.base_dist.loc[:, 0, sizes[0] :].std(0).mean() > 1e-4


def test_objective_terms_sum_to_the_bound(digits: torch.Tensor) -> None:
    model = tiny_model()
    x = binary(digits)
    objective = HierarchicalELBO(beta=1.0)
    torch.manual_seed(0)
    result = objective(model, (x, None), 0)
    group_sum = sum(float(result.terms[f"kl_group_{i}"]) for i in range(3))
    assert group_sum == pytest.approx(float(result.terms["kl"]), rel=1e-5)
    assert float(result.terms["elbo"]) == pytest.approx(-float(result.loss.detach()), rel=1e-5)
    assert 0 <= float(result.terms["active_units"]) <= model.latent_dim
    # The generic ELBO objective gives the same bound on the same draw.
    torch.manual_seed(0)
    generic = vaekit.ELBOObjective()(model, (x, None), 0)
    assert float(generic.terms["elbo"]) == pytest.approx(float(result.terms["elbo"]), rel=1e-5)


def test_kl_balancing_weights() -> None:
    kl_groups = torch.tensor([[1.0, 4.0], [3.0, 4.0]])  # (N, L): mean KL 2 and 4
    gamma = kl_balance_coefficients(kl_groups, [10, 40], floor=0.0)
    # KL per share of dimensions: 2 / 0.2 = 10 and 4 / 0.8 = 5, normalized to mean 1.
    torch.testing.assert_close(gamma, torch.tensor([4 / 3, 2 / 3]))
    assert not gamma.requires_grad


def test_warmup_balances_and_then_is_the_plain_elbo(digits: torch.Tensor) -> None:
    model = tiny_model()
    x = binary(digits)
    objective = HierarchicalELBO(beta={"type": "linear", "start": 0.0, "end": 1.0, "steps": 10})
    torch.manual_seed(0)
    early = objective(model, (x, None), 5)
    assert float(early.terms["beta"]) == pytest.approx(0.5)
    rec = float(early.terms["reconstruction"])
    assert float(early.loss.detach()) != pytest.approx(rec + 0.5 * float(early.terms["kl"]), rel=1e-6)  # balanced
    torch.manual_seed(0)
    late = objective(model, (x, None), 10)
    assert float(late.loss.detach()) == pytest.approx(-float(late.terms["elbo"]), rel=1e-6)


def test_trains_on_tiny_data_and_loss_goes_down(digits: torch.Tensor) -> None:
    model = tiny_model()
    objective = HierarchicalELBO(beta={"type": "linear", "start": 0.1, "end": 1.0, "steps": 20}, spectral_weight=1e-3)
    history = fit(
        model, objective, digits, epochs=8, batch_size=64, lr=3e-3, transform=DynamicBinarize(17), progress=False
    )
    losses = [epoch["loss"] for epoch in history.train]
    assert losses[-1] < 0.8 * losses[0]
    assert {"kl_group_0", "kl_group_2", "active_units", "spectral"} <= set(history.train[-1])
    assert history.train[-1]["elbo"] > history.train[0]["elbo"]


def test_spectral_penalty_estimates_and_lowers_the_largest_singular_values() -> None:
    model = tiny_model()
    penalty = SpectralPenalty(iterations=1, initial_iterations=50)

    def exact() -> torch.Tensor:
        return torch.stack(
            [torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), ord=2) for _, w in spectral_weights(model)]
        )

    estimate = penalty.singular_values(model).detach()
    torch.testing.assert_close(estimate, exact(), rtol=2e-2, atol=1e-3)
    before = exact()
    optimizer = torch.optim.SGD([w for _, w in spectral_weights(model)], lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        penalty(model).backward()
        optimizer.step()
    after = exact()
    assert (after < before).all()
    assert after.sum() < 0.9 * before.sum()


def test_gradient_skipping_inside_the_training_loop(digits: torch.Tensor) -> None:
    model = tiny_model()
    start = {k: v.clone() for k, v in model.named_parameters()}
    objective = HierarchicalELBO()
    history = fit(
        model,
        objective,
        digits[:128],
        epochs=2,
        batch_size=64,
        transform=DynamicBinarize(17),
        progress=False,
        skip_grad_norm=1e-6,  # every update is an outlier
    )
    assert history.skipped_updates == 4 and [r["skipped_updates"] for r in history.records] == [2, 2]
    assert all(torch.equal(start[k], v) for k, v in model.named_parameters())
    lenient = fit(
        model, objective, digits[:128], epochs=1, batch_size=64, transform=DynamicBinarize(17), progress=False,
        skip_grad_norm=1e9,
    )  # fmt: skip
    assert lenient.skipped_updates == 0
    assert not all(torch.equal(start[k], v) for k, v in model.named_parameters())


def test_sampling_with_temperature() -> None:
    model = tiny_model().eval()
    torch.manual_seed(0)
    cold = model.sample(5, temperature=0.0, readjust_batch_norm=False)
    assert cold.shape == (5, 1, 8, 8) and ((cold >= 0) & (cold <= 1)).all()
    assert torch.allclose(cold, cold[:1].expand_as(cold))  # no spread at temperature 0
    warm = model.sample(64, temperature=1.0)
    hot = model.sample(64, temperature=3.0, readjust_batch_norm=False)
    assert warm.std(0).mean() < hot.std(0).mean()
    assert not model.training


def test_batch_norm_readjustment_is_temporary() -> None:
    model = tiny_model().eval()
    norms = model._generative_batch_norms()
    before = [m.running_var.clone() for m in norms]
    with model.readjusted_batch_norm(temperature=0.5, steps=3, batch_size=16):
        inside = [m.running_var.clone() for m in norms]
        assert not model.training
    assert any(not torch.allclose(a, b) for a, b in zip(before, inside))
    assert all(torch.equal(a, m.running_var) for a, m in zip(before, norms))
    torch.manual_seed(0)
    assert model.sample(4, temperature=0.5).shape == (4, 1, 8, 8)  # readjusts by default below 1


def test_encode_decode_reconstruct_and_evaluator(digits: torch.Tensor) -> None:
    model = tiny_model().eval()
    x = binary(digits, 8)
    q = model.encode(x)
    assert q.mean.shape == (8, model.latent_dim)
    torch.testing.assert_close(model.reconstruct(x), model.decode(q.mean).mean)
    assert model.decode(q.mean.expand(3, 8, -1)).mean.shape == (3, 8, 1, 8, 8)
    torch.manual_seed(0)
    log_px = vaekit.log_likelihood(model, x, k=64, batch_size=4)
    torch.manual_seed(0)
    elbo = model.log_importance_weights(x, 64).mean(0)
    assert log_px.shape == (8,) and torch.isfinite(log_px).all()
    assert (log_px >= elbo - 1e-4).all()  # log mean exp >= mean on the same draws
    with pytest.raises(ValueError, match="expects"):
        model.encode(torch.rand(2, 1, 7, 7))
    with pytest.raises(ValueError, match="not conditional"):
        model.encode(x, torch.zeros(8))


def test_save_load_gives_identical_outputs(tmp_path, digits: torch.Tensor) -> None:
    model = tiny_model(likelihood={"type": "discretized_logistic", "levels": 17})
    fit(
        model,
        HierarchicalELBO(),
        digits[:64],
        epochs=1,
        batch_size=32,
        transform=vaekit.data.ToUnit(17),
        progress=False,
    )
    model.eval()
    model.save(tmp_path / "model")
    loaded = vaekit.load(tmp_path / "model")
    assert isinstance(loaded, HierarchicalVAE)
    x = digits[:6].float() / 16
    torch.testing.assert_close(loaded.encode(x).mean, model.encode(x).mean)
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x))
    weights = []
    for m in (model, loaded):
        torch.manual_seed(3)
        weights.append(m.log_importance_weights(x, 5))
    torch.testing.assert_close(weights[1], weights[0])
    torch.manual_seed(4)
    a = model.sample(3, temperature=0.8)
    torch.manual_seed(4)
    torch.testing.assert_close(loaded.sample(3, temperature=0.8), a)


def test_bad_configs_are_explained() -> None:
    with pytest.raises(ValueError, match="image data"):
        vaekit.build_model({"type": "hierarchical"}, [64])
    with pytest.raises(ValueError, match="groups_per_scale"):
        vaekit.build_model({"type": "hierarchical", "groups_per_scale": []}, [1, 8, 8])
    with pytest.raises(vaekit.ConfigError, match="valid arguments"):
        vaekit.build_model({"type": "hierarchical", "chanels": 8}, [1, 8, 8])
    model = tiny_model()
    with pytest.raises(ValueError, match="latent vectors"):
        model.decode(torch.zeros(2, 5))


def test_diagonal_gaussians_of_the_output_are_the_concatenated_groups(digits: torch.Tensor) -> None:
    model = tiny_model().eval()
    x = binary(digits, 3)
    with torch.no_grad():
        out = model(x)
    parts = model.split_groups(out.z)
    assert [tuple(p.shape[1:]) for p in parts] == model.group_shapes
    whole = diagonal_gaussian(out.q_z.base_dist.loc, 2 * out.q_z.base_dist.scale.log())
    torch.testing.assert_close(whole.log_prob(out.z), out.q_z.log_prob(out.z))


def test_patch_folding_starts_the_network_at_a_lower_resolution() -> None:
    torch.manual_seed(0)
    model = vaekit.build_model(
        {"type": "hierarchical", **TINY, "patch_size": 2, "preprocess_scales": 0, "likelihood": "discretized_logistic"},
        [2, 8, 6],
    ).eval()
    # 8x6 folded into 4x3 patches: the finest latent scale is 4x3, the top one 2x2.
    assert model.group_shapes == [(2, 2, 2), (2, 4, 3), (2, 4, 3)]
    x = torch.randint(0, 256, (3, 2, 8, 6)) / 255
    assert model.reconstruct(x).shape == (3, 2, 8, 6) and model.sample(2).shape == (2, 2, 8, 6)
    # The network runs on 4x3 maps only: the stem sees the folded patches (2 * 2 * 2 channels).
    assert model.stem.in_channels == 8 and model.to_params[1].out_channels == 2 * 2 * 4
    assert model.log_importance_weights(x, 4).shape == (4, 3)
    with pytest.raises(ValueError, match="patch_size"):
        vaekit.build_model({"type": "hierarchical", **TINY, "patch_size": 3}, [1, 8, 8])


def test_output_head_with_a_hidden_layer(digits: torch.Tensor, tmp_path) -> None:
    x = binary(digits, 4)
    plain = tiny_model().eval()
    model = tiny_model(head_channels=12).eval()
    assert model.to_params[1].out_channels == 12 and model.to_params[3].out_channels == 1
    assert model.reconstruct(x).shape == x.shape
    z = torch.randn(3, model.latent_dim)
    logits = model.decode(z).base_dist.logits
    assert logits.shape == (3, 1, 8, 8)
    with torch.no_grad():
        model.to_params[3].bias.add_(2.0)  # the last layer of the head sets the logits directly
    torch.testing.assert_close(model.decode(z).base_dist.logits, logits + 2.0)
    model.save(tmp_path / "m")
    torch.testing.assert_close(vaekit.load(tmp_path / "m").decode(z).base_dist.logits, logits + 2.0)
    assert sum(p.numel() for p in model.parameters()) > sum(p.numel() for p in plain.parameters())
