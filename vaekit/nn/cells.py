"""Residual cells of NVAE-style hierarchical VAEs (Vahdat & Kautz 2020), sized by arguments.

Encoder (bottom-up) cells are ``x + s * SE(conv3x3(swish(bn(conv3x3(swish(bn(x)))))))``;
generative (top-down) cells replace the dense 3x3 convolutions by an inverted bottleneck
with a depthwise convolution: ``x + s * SE(bn(conv1x1(swish(bn(dw_conv(swish(bn(conv1x1(bn(x))))))))))``.
The small residual scale ``s`` keeps a deep stack close to the identity at initialization.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn


class SqueezeExcitation(nn.Module):
    """Channel gating (Hu et al. 2018): x * sigmoid(W2 relu(W1 mean_hw(x))).

    Args:
        channels: number of channels of the input.
        reduction: ratio between the channels and the hidden width of the gate (at least 4 wide).
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)  # (B, C, H, W) * (B, C, 1, 1)


class ResidualCell(nn.Module):
    """x + residual_scale * body(x), where body is the given layers (then a squeeze-and-excitation gate).

    Args:
        layers: the residual branch, (B, C, H, W) -> (B, C, H, W).
        channels: C.
        squeeze_excitation: end the branch with the SE gate.
        residual_scale: factor of the residual branch.
    """

    def __init__(self, layers: list[nn.Module], channels: int, squeeze_excitation: bool, residual_scale: float):
        super().__init__()
        if squeeze_excitation:
            layers = [*layers, SqueezeExcitation(channels)]
        self.body = nn.Sequential(*layers)
        self.residual_scale = float(residual_scale)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.residual_scale * self.body(x)


class EncoderCell(ResidualCell):
    """Bottom-up residual cell: BN-Swish-Conv3x3, twice, then squeeze-and-excitation.

    Args:
        channels: input and output channels.
        squeeze_excitation: add the SE gate.
        residual_scale: factor of the residual branch.
    """

    def __init__(self, channels: int, squeeze_excitation: bool = True, residual_scale: float = 0.1):
        layers: list[nn.Module] = [
            nn.BatchNorm2d(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        ]
        super().__init__(layers, channels, squeeze_excitation, residual_scale)


class GenerativeCell(ResidualCell):
    """Top-down residual cell: an inverted bottleneck around a depthwise convolution.

    Args:
        channels: input and output channels.
        expansion: width factor of the bottleneck.
        kernel_size: size of the depthwise kernel (odd).
        squeeze_excitation: add the SE gate.
        residual_scale: factor of the residual branch.
    """

    def __init__(
        self,
        channels: int,
        expansion: int = 3,
        kernel_size: int = 5,
        squeeze_excitation: bool = True,
        residual_scale: float = 0.1,
    ):
        if kernel_size % 2 == 0:
            raise ValueError(f"the depthwise kernel size must be odd, got {kernel_size}")
        wide = channels * int(expansion)
        layers: list[nn.Module] = [
            nn.BatchNorm2d(channels),
            nn.Conv2d(channels, wide, 1),
            nn.BatchNorm2d(wide),
            nn.SiLU(),
            nn.Conv2d(wide, wide, kernel_size, padding=kernel_size // 2, groups=wide),  # depthwise
            nn.BatchNorm2d(wide),
            nn.SiLU(),
            nn.Conv2d(wide, channels, 1),
            nn.BatchNorm2d(channels),
        ]
        super().__init__(layers, channels, squeeze_excitation, residual_scale)


class DownsampleCell(nn.Module):
    """BN-Swish-Conv3x3 with stride 2: (B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2))."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class UpsampleCell(nn.Module):
    """Nearest-neighbour upsampling to an exact ``size`` (so odd sizes such as 7 -> 14 -> 28 or 4 -> 7
    mirror the downsampling), then BN-Swish-Conv3x3.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        size: (height, width) of the output.
    """

    def __init__(self, in_channels: int, out_channels: int, size: Sequence[int]):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(F.interpolate(x, size=self.size, mode="nearest"))


def downsampled_size(size: Sequence[int]) -> tuple[int, int]:
    """The spatial size after a :class:`DownsampleCell`: ceil of half of each side."""
    return ((int(size[0]) + 1) // 2, (int(size[1]) + 1) // 2)


class ShuffleDownsampleCell(nn.Module):
    """Space-to-depth followed by a 1x1 convolution, computed as one 2x2 convolution of stride 2:
    (B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2)); odd sides are zero-padded first.

    A cheap alternative to :class:`DownsampleCell` (4 instead of 9 * C_in * C_out multiply-adds per
    output pixel).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)))


class ShuffleUpsampleCell(nn.Module):
    """The mirror of :class:`ShuffleDownsampleCell`: Swish, then a 1x1 convolution followed by
    depth-to-space (one 2x2 transposed convolution of stride 2), cropped to ``size``."""

    def __init__(self, in_channels: int, out_channels: int, size: Sequence[int]):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        self.body = nn.Sequential(nn.SiLU(), nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)[..., : self.size[0], : self.size[1]]
