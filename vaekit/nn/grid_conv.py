"""Convolutional encoder and decoder that keep a spatial grid of latents (for vector quantization).

Unlike :mod:`vaekit.nn.conv`, nothing is flattened: the encoder maps an image (B, C, H, W) to a
feature grid (B, D, H / 2^s, W / 2^s) and the decoder maps such a grid back to likelihood parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.nn.activations import activation
from vaekit.nn.conv import ResidualBlock
from vaekit.registry import Part, register


def grid_shape(input_shape: Sequence[int], stages: int) -> tuple[int, int]:
    """Height and width of the latent grid after ``stages`` halvings (ceil, as the input is padded)."""
    factor = 2**stages
    return -(-int(input_shape[1]) // factor), -(-int(input_shape[2]) // factor)


@register("encoder", "conv_grid")
class GridConvEncoder(Part):
    """Stride-2 convolutions (each halving height and width), residual blocks, then a 1x1
    convolution to ``out_channels`` latent channels.

    Args:
        input_shape: ``[channels, height, width]`` of one image (any size: it is padded to a
            multiple of 2^len(channels)).
        channels: output channels of each downsampling stage.
        out_channels: channels of the latent grid (the code width D).
        residual_blocks: residual blocks after the last stage.
        activation: activation name.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (64, 128),
        out_channels: int = 64,
        residual_blocks: int = 2,
        activation: str = "relu",
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"a grid encoder needs input_shape [C, H, W], got {list(input_shape)}")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.stages = len(channels)
        self.grid = grid_shape(self.input_shape, self.stages)
        self.out_channels = int(out_channels)
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for i, c in enumerate(channels):
            layers.append(nn.Conv2d(width, int(c), 4, stride=2, padding=1))
            if i + 1 < len(channels) or residual_blocks == 0:
                layers.append(activation_layer(activation))
            width = int(c)
        layers += [ResidualBlock(width, activation) for _ in range(residual_blocks)]
        layers += [activation_layer(activation), nn.Conv2d(width, self.out_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        pad_h = self.grid[0] * 2**self.stages - x.shape[-2]
        pad_w = self.grid[1] * 2**self.stages - x.shape[-1]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.net(x)  # (B, D, h, w)


@register("decoder", "conv_grid")
class GridConvDecoder(Part):
    """A 3x3 convolution from the latent grid, residual blocks, then stride-2 transposed
    convolutions up to ``output_shape`` (cropped to its exact height and width).

    Args:
        in_channels: channels of the latent grid (the code width D).
        output_shape: ``[param_channels, height, width]`` of the likelihood parameters.
        channels: channels of each upsampling stage, coarse to fine.
        residual_blocks: residual blocks before the first upsampling.
        activation: activation name.
    """

    def __init__(
        self,
        in_channels: int,
        output_shape: Sequence[int],
        channels: Sequence[int] = (128, 64),
        residual_blocks: int = 2,
        activation: str = "relu",
    ):
        super().__init__()
        if len(output_shape) != 3:
            raise ValueError(f"a grid decoder needs output_shape [C, H, W], got {list(output_shape)}")
        self.output_shape = tuple(int(s) for s in output_shape)
        widths = [int(c) for c in channels]
        layers: list[nn.Module] = [nn.Conv2d(int(in_channels), widths[0], 3, padding=1)]
        layers += [ResidualBlock(widths[0], activation) for _ in range(residual_blocks)]
        layers.append(activation_layer(activation))
        for i, c in enumerate(widths):
            last = i + 1 == len(widths)
            nxt = self.output_shape[0] if last else widths[i + 1]
            layers.append(nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1))
            if not last:
                layers.append(activation_layer(activation))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        return out[:, :, : self.output_shape[1], : self.output_shape[2]]  # (B, C, H, W)


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module by name."""
    return activation(name)
