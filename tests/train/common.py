"""Small models and data shared by the training-loop tests."""

from __future__ import annotations

import torch
from torch import nn

from vaekit import ELBOObjective, build_model
from vaekit.data import DynamicBinarize
from vaekit.objectives import LossOutput
from vaekit.train import read_checkpoint


def image_data(n: int = 96, seed: int = 0) -> torch.Tensor:
    """uint8 'images' with 17 grey levels, like the digits."""
    return torch.randint(0, 17, (n, 1, 4, 4), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model({"type": "vae", "latent_dim": 3, "hidden": [8]}, [1, 4, 4])


def binarizer() -> DynamicBinarize:
    return DynamicBinarize(17, torch.Generator().manual_seed(5))


class KilledError(Exception):
    """Stands for the process being killed."""


def kill_after(epoch: int):
    def callback(done: int, record: dict) -> None:
        if done == epoch:
            raise KilledError

    return callback


SETTINGS = dict(epochs=4, batch_size=20, lr=5e-3, lr_schedule="cosine", grad_clip=5.0, progress=False, seed=3)


class Scalar(nn.Module):
    """One weight; trained towards 1 while its validation loss grows with it."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def toward_one(model, batch, step):
    x, _ = batch
    target = 1.0 if model.training else 0.0  # validation gets worse every epoch
    loss = (model.w - target) ** 2 + 0 * x.float().sum()
    return LossOutput(loss, {"loss": loss.detach()})


class HugeAt:
    """The ELBO, with the loss scaled by 1e6 (finite, but an outlier gradient) at the given steps."""

    def __init__(self, *steps: int):
        self.steps, self.inner = set(steps), ELBOObjective()

    def __call__(self, model, batch, step):
        result = self.inner(model, batch, step)
        if step in self.steps:
            result.loss = result.loss * 1e6
        return result


def training_state(run_dir) -> dict[str, torch.Tensor]:
    """Weights and optimizer state (Adam moments and step count) of a run's last checkpoint."""
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last")
    optimizer = {k: v for k, v in checkpoint.tensors.items() if k.startswith("optimizer/")}
    return {**checkpoint.model_state, **optimizer}


SKIP = dict(epochs=3, batch_size=20, lr=5e-3, grad_clip=5.0, skip_grad_norm=1e3, progress=False, seed=3)
