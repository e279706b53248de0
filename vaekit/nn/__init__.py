"""Networks sized by arguments: MLP and convolutional encoders and decoders."""

from vaekit.nn.conv import ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.nn.mlp import MLPDecoder, MLPEncoder

__all__ = ["ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder", "ResidualBlock"]
