"""Data-parallel training: 2 CPU processes (gloo, via torchrun) end with the weights of one process,
and a resumed data-parallel run ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from vaekit import build_model
from vaekit.objectives import LossOutput
from vaekit.train import fit

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from safetensors.torch import save_file
    from tests.train.test_distributed import SETTINGS, deterministic_objective, problem
    from vaekit import ELBOObjective
    from vaekit.train import fit

    model, x = problem()
    history = fit(model, deterministic_objective, x, val_x=x[:10], run_dir=sys.argv[1] + "/run", **SETTINGS)

    # exact resume under data parallelism: each rank restores its own random streams from the checkpoint
    def elbo_run(epochs, run, resume=False):
        model, x = problem()
        options = dict(batch_size=32, device="cpu", progress=False, seed=4)
        fit(model, ELBOObjective(), x, epochs=epochs, run_dir=sys.argv[1] + run, resume=resume, **options)
        return model.state_dict()

    uninterrupted = elbo_run(3, "/whole")
    elbo_run(2, "/parts")
    resumed = elbo_run(3, "/parts", resume=True)
    for key, value in uninterrupted.items():
        if not torch.equal(value, resumed[key]):
            raise SystemExit(f"resumed data-parallel run differs from the uninterrupted one in {key}")
    if os.environ["RANK"] == "0":
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[1] + "/weights.safetensors")
        with open(sys.argv[1] + "/history.json", "w") as f:
            json.dump({"train": history.train, "validation": history.validation}, f)
    # no teardown here: vaekit leaves the process group at exit (vaekit.train.distributed.shutdown)
    """
)
# 91 examples in global batches of 32: the last batch (27) splits unevenly, 13 and 14
SETTINGS = dict(epochs=2, batch_size=32, lr=1e-2, grad_clip=1.0, lr_schedule="cosine", device="cpu", progress=False)


def problem() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model({"type": "vae", "latent_dim": 2, "hidden": [6]}, [5])
    x = torch.rand(91, 5, generator=torch.Generator().manual_seed(1)).round()
    return model, x


def deterministic_objective(model, batch, step) -> LossOutput:
    """Reconstruction through the posterior mean: no sampling, so 1 and 2 processes see the same maths.
    It calls ``encode``/``decode`` rather than ``forward``, as IWAE and the evaluators do."""
    x, _ = batch
    z = model.encode(x, check=False).mean  # (B, 2)
    reconstruction = -model.decode(z).log_prob(x).mean()
    loss = reconstruction + 0.01 * z.pow(2).sum(-1).mean()
    return LossOutput(loss, {"reconstruction": reconstruction.detach()})


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed support")
@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)]
    done = subprocess.run([*command, str(tmp_path)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, x = problem()
        history = fit(model, deterministic_objective, x, val_x=x[:10], **SETTINGS)
    finally:
        torch.set_num_threads(threads)
    distributed = load_file(str(tmp_path / "weights.safetensors"))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(distributed[key], value, rtol=1e-4, atol=1e-5, msg=key)
    logged = json.loads((tmp_path / "history.json").read_text())
    for mine, theirs in zip(history.train + history.validation, logged["train"] + logged["validation"]):
        assert theirs.keys() == mine.keys()
        for key in mine:
            assert theirs[key] == pytest.approx(mine[key], rel=1e-5), key
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # written once, by rank 0
