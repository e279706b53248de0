"""Networks sized by arguments: MLP and convolutional encoders and decoders."""

from vaekit.nn.conv import ConvDecoder, ConvEncoder, ResidualBlock
from vaekit.nn.grid_conv import GridConvDecoder, GridConvEncoder
from vaekit.nn.mlp import MLPDecoder, MLPEncoder
from vaekit.nn.quantizer import VectorQuantizer
from vaekit.nn.sequence import CausalTransformerDecoder, RecurrentEncoder, RecurrentTokenDecoder

__all__ = [
    "CausalTransformerDecoder",
    "ConvDecoder",
    "ConvEncoder",
    "GridConvDecoder",
    "GridConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "RecurrentEncoder",
    "RecurrentTokenDecoder",
    "ResidualBlock",
    "VectorQuantizer",
]
