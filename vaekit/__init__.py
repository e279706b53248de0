"""vaekit: variational autoencoders composed from parts, with one training loop and one evaluator."""

from vaekit import distributions, evaluate, generate, nn, objectives
from vaekit.evaluate import log_likelihood
from vaekit.io import ModelFileError, load, save_model
from vaekit.models import VAE, BaseModel, VAEOutput, build_vae
from vaekit.objectives import ELBOObjective, IWAEObjective, LossOutput, elbo, iwae_bound
from vaekit.registry import ConfigError, build, build_model, register, register_builder, registered
from vaekit.version import __version__

__all__ = [
    "VAE",
    "BaseModel",
    "ConfigError",
    "ELBOObjective",
    "IWAEObjective",
    "LossOutput",
    "ModelFileError",
    "VAEOutput",
    "__version__",
    "build",
    "build_model",
    "build_vae",
    "distributions",
    "elbo",
    "evaluate",
    "generate",
    "iwae_bound",
    "load",
    "log_likelihood",
    "nn",
    "objectives",
    "register",
    "register_builder",
    "registered",
    "save_model",
]
