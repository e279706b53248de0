"""A short kill test: a training process SIGKILLed mid-epoch and in the middle of a checkpoint write, resumed each
time, ends with weights bit-identical to an uninterrupted run (benchmarks/kill_resume.py is the long version)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from tests.train.common import binarizer, image_data, small_model
from vaekit import ELBOObjective
from vaekit.train import fit, read_checkpoint

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from safetensors.torch import save_file
    import vaekit.train.checkpoint as checkpoint_module
    from vaekit import ELBOObjective
    from vaekit.train import Callback, fit
    from vaekit.train.checkpointing import has_checkpoint
    from tests.train.common import binarizer
    from tests.train.test_kill import SETTINGS, problem

    mode, run_dir, when = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    callbacks = []
    if mode == "step":  # SIGKILL right after optimizer step `when`
        class Kill(Callback):
            def on_step_end(self, state):
                if state.step == when:
                    os.kill(os.getpid(), signal.SIGKILL)
        callbacks = [Kill()]
    elif mode == "write":  # SIGKILL halfway through the JSON file of this process's `when`-th checkpoint write
        write, calls = checkpoint_module.atomic_write_bytes, []
        def torn_write(path, data):
            calls.append(path)
            if len(calls) == when:
                with open(path, "wb") as f:
                    f.write(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            return write(path, data)
        checkpoint_module.atomic_write_bytes = torn_write
    model, x, val = problem()
    fit(model, ELBOObjective(), x, val_x=val, run_dir=run_dir, resume=has_checkpoint(run_dir), transform=binarizer(),
        callbacks=callbacks, **SETTINGS)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, run_dir + "/final.safetensors")
    """
)
SETTINGS = dict(epochs=3, batch_size=20, lr=5e-3, lr_schedule="cosine", checkpoint_every=3, progress=False, seed=3)


def problem():
    return small_model(), image_data(), image_data(30, seed=1)  # 5 steps per epoch


def _run(tmp_path, *args) -> int:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(tmp_path / "train.py"), *[str(a) for a in args]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240).returncode


@pytest.mark.slow
def test_killed_mid_epoch_and_mid_write_then_resumed_ends_bit_identical(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    run = tmp_path / "run"
    assert _run(tmp_path, "step", run, 8) == -signal.SIGKILL  # epoch 2, batch 3; last checkpoint: step 6
    assert read_checkpoint(run / "checkpoints" / "last").document["step"] == 6
    # resumed at step 6, it checkpoints step 9, then dies writing the first checkpoint of step 10 (the epoch's end)
    assert _run(tmp_path, "write", run, 2) == -signal.SIGKILL
    assert any(".tmp-" in p.name for p in (run / "checkpoints").iterdir())  # the torn write
    assert read_checkpoint(run / "checkpoints" / "last").document["step"] == 9  # the one before it, intact
    assert _run(tmp_path, "none", run, 0) == 0

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, x, val = problem()
        fit(model, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "reference", transform=binarizer(), **SETTINGS)
    finally:
        torch.set_num_threads(threads)
    resumed = load_file(str(run / "final.safetensors"))
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed[key]), key
