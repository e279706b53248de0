"""VQ-VAE: quantizer maths (straight-through, EMA, k-means, dead codes), the causal code prior,
training, the likelihood bound, save/load with a prior, and the ``train-prior`` command."""

from __future__ import annotations

import json
import math

import pytest
import torch

import vaekit
from vaekit.data import ToUnit, load_digits
from vaekit.models.vqvae import VQVAE, MissingPriorError
from vaekit.nn.quantizer import VectorQuantizer, kmeans
from vaekit.objectives import elbo
from vaekit.objectives.vq import CodePriorObjective, VQObjective
from vaekit.train import fit

SMALL = {
    "type": "vqvae",
    "num_codes": 16,
    "code_dim": 8,
    "channels": [16, 16],
    "residual_blocks": 1,
    "likelihood": {"type": "discretized_logistic", "levels": 17},
}


def small_model(**overrides) -> VQVAE:
    torch.manual_seed(0)
    return vaekit.build_model({**SMALL, **overrides}, [1, 8, 8])


def images(n: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 1, 8, 8), generator=gen).float() / 16


# ------------------------------------------------------------------ quantizer
def test_lookup_is_the_nearest_code_and_gradient_passes_straight_through() -> None:
    model = small_model(init="random")
    x = images(8)
    z_e = model.encoder(x)
    out = model.quantizer(z_e)
    flat = z_e.detach().movedim(1, -1).reshape(-1, 8)
    brute = torch.cdist(flat, model.quantizer.codebook).argmin(1)
    assert torch.equal(out.indices.flatten(), brute)
    # Forward value is the code itself, not the encoder output.
    assert torch.allclose(out.z_q.detach().movedim(1, -1).reshape(-1, 8), model.quantizer.codebook[brute], atol=1e-6)
    # The reconstruction alone (no commitment term) still trains the encoder: the gradient skips the argmin.
    model.zero_grad()
    (-model.decode(out.z_q).log_prob(x).mean()).backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_commitment_loss_is_beta_times_squared_distance_and_trains_only_the_encoder() -> None:
    q = VectorQuantizer(num_codes=4, code_dim=2, beta=0.25, update="loss", init="random")
    z_e = torch.randn(3, 2, 5, requires_grad=True)  # (B, D, L)
    out = q(z_e)
    codes = q.codebook[out.indices].movedim(-1, 1)  # (B, D, L)
    expected = 0.25 * (z_e - codes).pow(2).sum((1, 2))
    assert torch.allclose(out.commitment, expected.detach(), atol=1e-6)
    assert torch.allclose(out.codebook, (expected / 0.25).detach(), atol=1e-5)
    out.commitment.sum().backward()
    assert q.codebook.grad is None  # sg[e] in the commitment term
    assert z_e.grad is not None


def test_ema_moves_codes_to_the_mean_of_their_assigned_vectors() -> None:
    torch.manual_seed(0)
    q = VectorQuantizer(num_codes=2, code_dim=2, decay=0.8, init="random", restart_dead=False)
    q.codebook.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    q.ema_sum.copy_(q.codebook)
    left = torch.tensor([-3.0, 1.0]) + 0.1 * torch.randn(20, 2)
    right = torch.tensor([2.0, -1.0]) + 0.1 * torch.randn(20, 2)
    vectors = torch.cat([left, right])  # (40, D)
    z_e = vectors.t().unsqueeze(0)  # (1, D, 40)
    targets = torch.stack([left.mean(0), right.mean(0)])
    q.train()
    before = (q.codebook - targets).norm(dim=1)
    q(z_e)
    after_one = (q.codebook - targets).norm(dim=1)
    assert (after_one < before).all()
    for _ in range(60):
        q(z_e)
    assert torch.allclose(q.codebook, targets, atol=1e-3)
    q.eval()
    frozen = q.codebook.clone()
    q(z_e + 5)
    assert torch.equal(q.codebook, frozen)  # no updates in evaluation mode


def test_dead_codes_are_restarted_at_encoder_outputs() -> None:
    torch.manual_seed(0)
    q = VectorQuantizer(num_codes=8, code_dim=2, decay=0.5, init="random", dead_threshold=0.25)
    q.codebook.copy_(torch.full((8, 2), 100.0))
    q.codebook[0] = 0.0
    q.ema_sum.copy_(q.codebook * q.ema_count[:, None])
    z_e = torch.randn(4, 2, 16)  # (B, D, L): all near code 0 at first
    q.train()
    assert q(z_e).usage == 1 / 8
    for _ in range(10):
        out = q(z_e)
    assert q.codebook.abs().max() < 10  # every far-away code was moved onto the data
    assert out.usage > 1 / 8 and out.perplexity > 1.5


def test_kmeans_initialization_finds_cluster_centres() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    vectors = centres.repeat_interleave(50, 0) + 0.1 * torch.randn(200, 2, generator=gen)
    found = kmeans(vectors, 4, iterations=20, generator=torch.Generator().manual_seed(1))
    assert torch.cdist(centres, found).min(1).values.max() < 0.2
    torch.manual_seed(3)
    q = VectorQuantizer(num_codes=4, code_dim=2, init="kmeans", kmeans_iterations=20, restart_dead=False)
    q.train()
    q(vectors.t().unsqueeze(0))
    assert bool(q.initialized)
    assert torch.cdist(centres, q.codebook).min(1).values.max() < 0.5


# ----------------------------------------------------------------- code prior
def test_prior_is_causal() -> None:
    torch.manual_seed(0)
    prior = small_model().new_prior(width=16, layers=2, heads=2, n_classes=3).eval()
    codes = torch.randint(0, 16, (2, 2, 2))
    y = torch.tensor([0, 2])
    base = prior.logits(codes, y).flatten(1, 2)  # (B, L, K)
    for i in range(4):
        changed = codes.clone().flatten(1)
        changed[:, i:] = (changed[:, i:] + 1 + torch.randint(0, 14, changed[:, i:].shape)) % 16
        logits = prior.logits(changed.view(2, 2, 2), y).flatten(1, 2)
        # Position i sees only codes before i: changing codes at i and later leaves 0..i untouched.
        assert torch.allclose(logits[:, : i + 1], base[:, : i + 1], atol=1e-5)
        if i + 1 < 4:
            assert not torch.allclose(logits[:, i + 1 :], base[:, i + 1 :], atol=1e-5)
    assert not torch.allclose(prior.logits(codes, torch.tensor([1, 1]))[:, 0, 0], base[:, 0])  # labels matter
    # Sampling computes only the prefix up to the position it draws: the same logits.
    prefix = prior._prefix_logits(codes.flatten(1), y, 3)
    assert torch.allclose(prefix, base[:, :3], atol=1e-5)
    # log_prob is the sum of the per-position log-softmax entries of the codes.
    manual = torch.log_softmax(base, -1).gather(-1, codes.flatten(1).unsqueeze(-1)).squeeze(-1).sum(1)
    assert torch.allclose(prior.log_prob(codes, y), manual, atol=1e-5)


# ------------------------------------------------------- training, bound, io
@pytest.fixture(scope="module")
def trained() -> tuple[VQVAE, torch.Tensor, torch.Tensor]:
    data = load_digits()
    x, y = data.train.x[:300], data.train.y[:300]
    model = small_model()
    history = fit(model, VQObjective(), x, epochs=3, batch_size=50, transform=ToUnit(17), progress=False)
    losses = [row["loss"] for row in history.train]
    assert losses[-1] < losses[0]
    for row in history.train:
        assert 0 < row["code_usage"] <= 1 and 1 <= row["perplexity"] <= 16
    return model.eval(), x.float() / 16, y


def test_bound_with_the_uniform_prior_is_reconstruction_plus_l_log_k(trained) -> None:
    model, x, _ = trained
    xb = x[:20]
    log_w = model.log_importance_weights(xb, 3)
    assert log_w.shape == (3, 20) and torch.equal(log_w[0], log_w[2])
    reconstruction = model.decode_indices(model.encode_indices(xb)).log_prob(xb)
    assert torch.allclose(log_w[0], reconstruction - 4 * math.log(16), atol=1e-4)
    # The generic ELBO of the forward output is the same bound (KL of a point mass = L log K).
    with torch.no_grad():
        result = elbo(model(xb), xb)
    assert math.isclose(float(result.terms["kl"]), 4 * math.log(16), rel_tol=1e-5)
    assert math.isclose(float(result.terms["elbo"]), float(log_w[0].detach().mean()), rel_tol=1e-4)


def test_prior_training_and_save_load_round_trip(trained, tmp_path) -> None:
    model, x, y = trained
    with pytest.raises(MissingPriorError, match="vaekit train-prior RUN"):
        model.sample(2)
    codes = model.encode_indices(x)
    torch.manual_seed(0)
    full = model.with_prior(model.new_prior(width=16, layers=1, heads=2, n_classes=10))
    history = fit(full.prior, CodePriorObjective(), codes, y, epochs=3, batch_size=50, progress=False)
    assert history.train[-1]["loss"] < history.train[0]["loss"]
    full.eval()
    # A trained prior puts more mass on the data's codes than the uniform prior does.
    assert full.prior_log_prob(codes, y).mean() > model.prior_log_prob(codes).mean()
    full.save(tmp_path / "model")
    loaded = vaekit.load(tmp_path / "model")
    assert isinstance(loaded, VQVAE) and loaded.conditioner is not None
    assert torch.allclose(
        loaded.log_importance_weights(x[:10], 1, y[:10]), full.log_importance_weights(x[:10], 1, y[:10])
    )
    assert torch.equal(loaded.reconstruct(x[:5]), full.reconstruct(x[:5]))
    torch.manual_seed(7)
    a = loaded.sample(3, temperature=0.8, y=torch.tensor([1, 2, 3]))
    torch.manual_seed(7)
    b = full.sample(3, temperature=0.8, y=torch.tensor([1, 2, 3]))
    assert a.shape == (3, 1, 8, 8) and torch.equal(a, b)
    with pytest.raises(ValueError, match="class-conditional"):
        loaded.sample(2)


def test_train_prior_command_on_a_run(tmp_path) -> None:
    from typer.testing import CliRunner

    from vaekit.cli import app
    from vaekit.config import config_from_dict
    from vaekit.runs import train_run

    config = config_from_dict(
        {
            "data": {"name": "digits", "binarize": "none", "limit": 200},
            "model": {k: v for k, v in SMALL.items()},
            "objective": {"type": "vq"},
            "train": {"epochs": 1, "batch_size": 50, "progress": False},
            "evaluate": {"k": 1, "plots": False},
        }
    )
    run = tmp_path / "run"
    train_run(config, run, log=lambda line: None)
    args = ["train-prior", str(run), "--epochs", "1", "--width", "16", "--layers", "1", "--heads", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "prior_metrics.json").read_text())
    assert metrics["conditional"] and metrics["bits_per_dim"] > 0
    model = vaekit.load(run / "model")
    assert model.prior is not None and model.prior.n_classes == 10
    assert model.sample(2, y=torch.tensor([0, 1])).shape == (2, 1, 8, 8)
    assert (run / "prior" / "metrics.jsonl").is_file() and (run / "samples.png").is_file()
    bad = CliRunner().invoke(app, ["train-prior", str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "no such run" in bad.output
    # --no-plots and --temperature reach the pipeline (they were once swallowed by positional arguments)
    (run / "samples.png").unlink()
    result = CliRunner().invoke(app, [*args, "--no-plots"])
    assert result.exit_code == 0, result.output
    assert not (run / "samples.png").exists()
    result = CliRunner().invoke(app, [*args, "--temperature", "-1"])
    assert result.exit_code == 2 and "temperature" in result.output
    # Sizes torch would take without a word (a width of 0 trained and saved a prior the run could not load
    # again; 0 heads was a ZeroDivisionError) are refused before anything is encoded, trained or saved.
    saved = (run / "model" / "config.json").read_text()
    for option, value in (("--width", "0"), ("--heads", "0"), ("--layers", "-1"), ("--dropout", "1")):
        result = CliRunner().invoke(app, [*args, option, value])
        assert result.exit_code == 2 and result.output.startswith("error: ") and "encoded" not in result.output
    assert (run / "model" / "config.json").read_text() == saved and vaekit.load(run / "model").prior is not None
    # RUN/model names the same run: the prior's checkpoints, metrics and pictures go into RUN, not among the
    # saved model's files (they once did: RUN/model/prior/, RUN/model/samples.png, RUN/model/prior_metrics.json).
    result = CliRunner().invoke(app, ["train-prior", str(run / "model"), *args[2:]])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (run / "model").iterdir()) == ["config.json", "model.safetensors"]
    assert (run / "samples.png").is_file() and vaekit.load(run / "model").prior is not None
