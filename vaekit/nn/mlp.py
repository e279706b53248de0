"""Fully connected encoder and decoder networks for data of any shape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaekit.nn.activations import activation
from vaekit.registry import Part, register


def mlp_layers(in_features: int, hidden: Sequence[int], act: str) -> tuple[nn.Sequential, int]:
    """Linear + activation layers through ``hidden``; returns the stack and its output width."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, int(size)), activation(act)]
        width = int(size)
    return nn.Sequential(*layers), width


@register("encoder", "mlp")
class MLPEncoder(Part):
    """Flattens inputs of ``input_shape`` and maps them through hidden layers to features.

    Args:
        input_shape: shape of one example, e.g. ``[784]`` or ``[1, 28, 28]``.
        hidden: widths of the hidden layers; the last is the feature width. Empty: the features are the
            flattened input itself, so the posterior head makes the encoder linear (a linear-Gaussian VAE,
            as :mod:`vaekit.anomaly.linear` fits in closed form).
        activation: activation name (see :mod:`vaekit.nn.activations`).
    """

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (512, 512), activation: str = "relu"):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.net, self.out_features = mlp_layers(math.prod(self.input_shape), hidden, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))  # (B, F)


@register("decoder", "mlp")
class MLPDecoder(Part):
    """Maps a latent vector through hidden layers to a tensor of ``output_shape`` per example.

    Args:
        in_features: latent (plus condition) width.
        output_shape: shape of the likelihood parameters for one example.
        hidden: widths of the hidden layers.
        activation: activation name.
    """

    def __init__(
        self,
        in_features: int,
        output_shape: Sequence[int],
        hidden: Sequence[int] = (512, 512),
        activation: str = "relu",
    ):
        super().__init__()
        self.in_features = int(in_features)
        self.output_shape = tuple(int(s) for s in output_shape)
        body, width = mlp_layers(self.in_features, hidden, activation)
        self.net = nn.Sequential(body, nn.Linear(width, math.prod(self.output_shape)))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.output_shape)


def flat_size(module: nn.Module, shape: Sequence[int]) -> int:
    """Number of features ``module`` produces per example for inputs of ``shape``."""
    with torch.no_grad():
        return int(module(torch.zeros(1, *shape)).flatten(1).shape[1])
