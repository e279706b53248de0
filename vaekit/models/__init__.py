"""Models composed from parts."""

from vaekit.models.builders import build_vae
from vaekit.models.conditioner import AttributeConditioner, Conditioner, LabelConditioner
from vaekit.models.output import VAEOutput
from vaekit.models.vae import VAE

__all__ = ["VAE", "AttributeConditioner", "Conditioner", "LabelConditioner", "VAEOutput", "build_vae"]
