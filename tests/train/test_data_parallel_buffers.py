"""Buffers under data parallelism: two gloo processes (torchrun) training a VQ-VAE (EMA codebook, k-means
init, dead-code restarts) and a hierarchical VAE (batch norm) end with identical parameters AND buffers on
both ranks, equal within floating-point tolerance to one process on the same global batches; and each rank
draws its own binarization noise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from vaekit import build_model
from vaekit.data import DynamicBinarize
from vaekit.objectives import LossOutput, VQObjective
from vaekit.train import fit

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from safetensors.torch import save_file
    from tests.train.test_data_parallel_buffers import train_both, binarization_state

    rank = os.environ["RANK"]
    for name, model in train_both().items():
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, f"{sys.argv[1]}/{name}-{rank}.safetensors")
    save_file({"state": binarization_state()}, f"{sys.argv[1]}/binarize-{rank}.safetensors")
    """
)
# 47 examples in global batches of 20: the last batch (7) splits unevenly over two ranks, 3 and 4
SETTINGS = dict(epochs=2, batch_size=20, lr=3e-3, device="cpu", progress=False, seed=1)


def images(n: int = 47) -> torch.Tensor:
    return torch.randint(0, 17, (n, 1, 8, 8), generator=torch.Generator().manual_seed(2)).float() / 16


def mean_path_objective(model, batch, step) -> LossOutput:
    """Hierarchical VAE through the posterior means: no sampling, so one and two processes do the same
    maths; encode and decode both run the batch-norm layers in training mode."""
    x, _ = batch
    z = model.encode(x, check=False).mean  # (B, D)
    reconstruction = -model.decode(z).log_prob(x).mean()
    loss = reconstruction + 0.01 * z.pow(2).sum(-1).mean()
    return LossOutput(loss, {"reconstruction": reconstruction.detach()})


def train_both() -> dict[str, torch.nn.Module]:
    """The two trained models (the same code runs in one process and in each of two ranks)."""
    torch.manual_seed(0)
    vq = build_model(
        {"type": "vqvae", "num_codes": 16, "code_dim": 4, "channels": [8], "residual_blocks": 1,
         "likelihood": {"type": "discretized_logistic", "levels": 17}},
        [1, 8, 8],
    )  # fmt: skip
    fit(vq, VQObjective(), images(), **SETTINGS)
    torch.manual_seed(0)
    hierarchical = build_model(
        {"type": "hierarchical", "channels": 4, "latent_channels": 2, "groups_per_scale": [1, 1],
         "preprocess_scales": 1, "expansion": 1},
        [1, 8, 8],
    )  # fmt: skip
    # A small lr: a bias right before a batch norm has no gradient in exact arithmetic, and Adam turns its
    # rounding noise into steps of size lr in either direction; the statistics are what this model tests.
    fit(hierarchical, mean_path_objective, images(), **{**SETTINGS, "lr": 1e-5})
    return {"vqvae": vq, "hierarchical": hierarchical}


def binarization_state() -> torch.Tensor:
    """The binarization generator's state after a short run (per rank under torchrun)."""
    torch.manual_seed(0)
    model = build_model({"type": "vae", "latent_dim": 2, "hidden": [4]}, [1, 8, 8])
    transform = DynamicBinarize(17, torch.Generator().manual_seed(5))
    x = torch.randint(0, 17, (8, 1, 8, 8), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    from vaekit import ELBOObjective

    fit(model, ELBOObjective(), x, epochs=1, batch_size=8, transform=transform, device="cpu", progress=False)
    return transform.generator.get_state()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed support")
@pytest.mark.slow
def test_two_processes_keep_buffers_identical_and_match_one(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    done = subprocess.run([*command, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = {name: model.state_dict() for name, model in train_both().items()}
    finally:
        torch.set_num_threads(threads)
    for name, reference in single.items():
        ranks = [load_file(str(tmp_path / f"{name}-{rank}.safetensors")) for rank in (0, 1)]
        assert ranks[0].keys() == ranks[1].keys() == reference.keys()
        for key, value in reference.items():
            assert torch.equal(ranks[0][key], ranks[1][key]), f"{name}: ranks differ in {key}"
            if value.is_floating_point():
                torch.testing.assert_close(ranks[0][key], value, rtol=2e-3, atol=2e-4, msg=f"{name}: {key}")
            else:
                assert torch.equal(ranks[0][key], value), f"{name}: {key}"
    assert any("running_var" in key for key in single["hierarchical"])  # batch norm was really there
    assert {"quantizer.ema_count", "quantizer.ema_sum"} <= single["vqvae"].keys()
    noise = [load_file(str(tmp_path / f"binarize-{rank}.safetensors"))["state"] for rank in (0, 1)]
    assert not torch.equal(noise[0], noise[1])  # each rank draws its own binarization noise
