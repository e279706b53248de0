"""Networks sized by arguments: MLP and convolutional encoders and decoders."""

from vaekit.nn.conv import ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.nn.mlp import MLPDecoder, MLPEncoder
from vaekit.nn.sequence import CausalTransformerDecoder, RecurrentEncoder, RecurrentTokenDecoder

__all__ = [
    "CausalTransformerDecoder",
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "RecurrentEncoder",
    "RecurrentTokenDecoder",
    "ResidualBlock",
]
