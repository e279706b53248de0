"""The VAE-GAN objective (Larsen et al. 2016): three losses, one per parameter group.

With x~ = E[p(x|z)] for z ~ q(z|x), x_p = E[p(x|z_p)] for z_p ~ p(z), Dis_l the discriminator's
feature layer and D its real/fake output:

    L_prior   = KL(q(z|x) || p(z))
    L_feature = 1/2 ||Dis_l(x~) - Dis_l(x)||^2          (a unit Gaussian in feature space)
    L_GAN^D   = -log D(x) - log(1 - D(x~)) - log(1 - D(x_p))
    L_GAN^G   = -log D(x~) - log D(x_p)                  (the non-saturating generator loss)

    encoder:       beta * L_prior + L_feature + pixel_weight * L_pixel
    decoder:       gamma * L_feature + pixel_weight * L_pixel + gan_weight * L_GAN^G
    discriminator: L_GAN^D

``L_pixel`` is the model's own negative log-likelihood -log p(x|z) (0 weight in the paper; a
small weight steadies short runs). Each optimizer steps on the gradient of its own loss with
respect to its own parameters (``LossOutput.group_losses``), as the training loop does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.distributions.kl import kl_terms
from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective, split_batch
from vaekit.objectives.schedules import Schedule, as_schedule
from vaekit.registry import register


@register("objective", "vaegan")
class VAEGANObjective(Objective):
    """The three-way weighted VAE-GAN loss for a model with a ``vae`` and a ``discriminator``.

    Args:
        beta: weight of the KL term in the encoder loss (a number or schedule config).
        gamma: weight of the feature-wise reconstruction in the decoder loss, against the GAN
            term (Larsen et al.'s gamma).
        gan_weight: weight of the generator's GAN loss in the decoder loss.
        pixel_weight: weight of the pixel-wise negative log-likelihood in encoder and decoder losses.
    """

    def __init__(
        self,
        beta: float | dict | Schedule = 1.0,
        gamma: float = 1.0,
        gan_weight: float = 1.0,
        pixel_weight: float = 0.0,
    ):
        self.beta = as_schedule(beta)
        self.gamma = float(gamma)
        self.gan_weight = float(gan_weight)
        self.pixel_weight = float(pixel_weight)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        if not hasattr(model, "discriminator") or not hasattr(model, "vae"):
            msg = f"the vaegan objective needs a VAEGAN model, got {type(model).__name__}"  # pragma: no mutate (text)
            raise TypeError(msg)
        x, y = split_batch(batch)
        x = x if x.is_floating_point() else x.float()  # pragma: no mutate (equivalent: the parts read integer pixels)
        out = model.vae(
            x,
            y,
            n_samples=1,  # pragma: no mutate (equivalent: 1 is the default)
            check=False,  # pragma: no mutate (validation only; the loop checked the batch)
        )
        x_rec = out.p_x.mean  # (B, *data)
        z_prior = model.vae.prior.sample(x.shape[0]).to(out.z)  # (B, D)
        x_prior = model.vae.decode(z_prior, y).mean  # (B, *data)

        # One discriminator pass over real, reconstructed and prior-sampled images.
        judged = model.discriminator(torch.cat([x, x_rec, x_prior]))
        logits_real, logits_rec, logits_prior = judged.logits.chunk(3)  # (B,) each
        feat_real, feat_rec, _ = judged.features.chunk(3)  # (B, F) each

        kl = kl_terms(out.q_z, out.p_z, out.z).total.mean()
        feature = 0.5 * (feat_rec - feat_real.detach()).pow(2).sum() / x.shape[0]  # batch mean of the sum over F
        pixel = -out.p_x.log_prob(x).mean()
        ones, zeros = torch.ones_like(logits_real), torch.zeros_like(logits_real)
        disc = (
            F.binary_cross_entropy_with_logits(logits_real, ones)
            + F.binary_cross_entropy_with_logits(logits_rec, zeros)
            + F.binary_cross_entropy_with_logits(logits_prior, zeros)
        )
        gen = F.binary_cross_entropy_with_logits(logits_rec, ones) + F.binary_cross_entropy_with_logits(
            logits_prior, ones
        )

        beta = self.beta(step)
        encoder_loss = beta * kl + feature + self.pixel_weight * pixel
        decoder_loss = self.gamma * feature + self.pixel_weight * pixel + self.gan_weight * gen
        groups = {"encoder": encoder_loss, "decoder": decoder_loss, "discriminator": disc}
        total = encoder_loss + decoder_loss + disc
        terms = {
            "loss": total.detach(),
            "kl": kl.detach(),
            "feature_reconstruction": feature.detach(),
            "reconstruction": pixel.detach(),
            "elbo": -(pixel + kl).detach(),
            "generator_gan": gen.detach(),
            "discriminator": disc.detach(),
            "d_real": torch.sigmoid(logits_real).mean().detach(),
            "d_fake": torch.sigmoid(torch.cat([logits_rec, logits_prior])).mean().detach(),
            "beta": kl.new_tensor(beta).detach(),
        }
        return LossOutput(total, terms, group_losses=groups)
