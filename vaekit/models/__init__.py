"""Models composed from parts."""

from vaekit.models.base import BaseModel, ModelExample, ObjectiveMismatchError, log_weights
from vaekit.models.builders import build_conditioner, build_prior, build_vae
from vaekit.models.code_prior import TransformerCodePrior
from vaekit.models.conditioner import AttributeConditioner, Conditioner, LabelConditioner
from vaekit.models.factorvae import FactorVAE, LatentDiscriminator, build_factorvae
from vaekit.models.hierarchical import HierarchicalOutput, HierarchicalVAE, build_hierarchical
from vaekit.models.m2 import M2, M2Output, build_m2
from vaekit.models.output import SamplingUnavailableError, VAEOutput
from vaekit.models.property_vae import PropertySequenceVAE, build_property_sequence_vae
from vaekit.models.sequence_vae import SequenceVAE, build_sequence_vae
from vaekit.models.vae import VAE
from vaekit.models.vaegan import VAEGAN, Discriminator, build_vaegan
from vaekit.models.vqvae import VQVAE, build_vqvae
from vaekit.models.wae import build_wae

__all__ = [
    "AttributeConditioner",
    "BaseModel",
    "Conditioner",
    "Discriminator",
    "FactorVAE",
    "HierarchicalOutput",
    "HierarchicalVAE",
    "LabelConditioner",
    "LatentDiscriminator",
    "M2",
    "M2Output",
    "ModelExample",
    "ObjectiveMismatchError",
    "PropertySequenceVAE",
    "SamplingUnavailableError",
    "SequenceVAE",
    "TransformerCodePrior",
    "VAE",
    "VAEGAN",
    "VAEOutput",
    "VQVAE",
    "build_conditioner",
    "build_factorvae",
    "build_hierarchical",
    "build_m2",
    "build_prior",
    "build_property_sequence_vae",
    "build_sequence_vae",
    "build_vae",
    "build_vaegan",
    "build_vqvae",
    "build_wae",
    "log_weights",
]
