"""Convolutional (residual) encoder and decoder for images of any size and channel count."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from vaekit.nn.activations import activation
from vaekit.nn.mlp import flat_size
from vaekit.registry import Part, register


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))): keeps shape, eases optimization of deeper stacks."""

    def __init__(self, channels: int, act: str):
        super().__init__()
        self.body = nn.Sequential(
            activation(act),
            nn.Conv2d(channels, channels, 3, padding=1),
            activation(act),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register("encoder", "conv")
class ConvEncoder(Part):
    """Stride-2 convolutions (each halving height and width) with optional residual blocks,
    then a linear layer to ``hidden`` features.

    Args:
        input_shape: ``[channels, height, width]`` of one image (any size).
        channels: output channels of each downsampling stage.
        hidden: feature width after the final linear layer.
        residual_blocks: residual blocks after each downsampling stage.
        activation: activation name.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (32, 64),
        hidden: int = 256,
        residual_blocks: int = 0,
        activation: str = "relu",
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"a conv encoder needs input_shape [C, H, W], got {list(input_shape)}")
        self.input_shape = tuple(int(s) for s in input_shape)
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for c in channels:
            layers += [nn.Conv2d(width, int(c), 4, stride=2, padding=1), _act(activation)]
            layers += [ResidualBlock(int(c), activation) for _ in range(residual_blocks)]
            width = int(c)
        layers.append(nn.Flatten())
        features = nn.Sequential(*layers)
        n = flat_size(features, self.input_shape)
        self.net = nn.Sequential(features, nn.Linear(n, int(hidden)), _act(activation))
        self.out_features = int(hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, hidden)


def _act(name: str) -> nn.Module:
    return activation(name)


@register("decoder", "conv")
class ConvDecoder(Part):
    """A linear layer to a small feature map, then stride-2 transposed convolutions up to
    ``output_shape`` (cropped to the exact height and width, so any size works).

    Args:
        in_features: latent (plus condition) width.
        output_shape: ``[param_channels, height, width]`` of the likelihood parameters.
        channels: channels of each upsampling stage, from coarse to fine.
        hidden: width of the first linear layer.
        residual_blocks: residual blocks before each upsampling stage.
        activation: activation name.
    """

    def __init__(
        self,
        in_features: int,
        output_shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        hidden: int = 256,
        residual_blocks: int = 0,
        activation: str = "relu",
    ):
        super().__init__()
        if len(output_shape) != 3:
            raise ValueError(f"a conv decoder needs output_shape [C, H, W], got {list(output_shape)}")
        self.output_shape = tuple(int(s) for s in output_shape)
        out_c, height, width = self.output_shape
        factor = 2 ** len(channels)
        self.start = (int(channels[0]), -(-height // factor), -(-width // factor))
        self.project = nn.Sequential(
            nn.Linear(int(in_features), int(hidden)),
            _act(activation),
            nn.Linear(int(hidden), self.start[0] * self.start[1] * self.start[2]),
            _act(activation),
        )
        layers: list[nn.Module] = []
        widths = [int(c) for c in channels]
        for i, c in enumerate(widths):
            layers += [ResidualBlock(c, activation) for _ in range(residual_blocks)]
            nxt = widths[i + 1] if i + 1 < len(widths) else widths[-1]
            layers += [nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1), _act(activation)]
        layers.append(nn.Conv2d(widths[-1], out_c, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(z.shape[0], *self.start)
        out = self.net(h)
        return out[:, :, : self.output_shape[1], : self.output_shape[2]]  # (B, C, H, W)
