"""The VQ-VAE (van den Oord et al. 2017): encoder grid -> vector quantizer -> decoder -> likelihood,
with an optional autoregressive prior over the grid of code indices that makes it generative.

Without a learned prior the prior over codes is uniform, so the bound on log p(x) is

    log p(x) >= log p(x | z_q(x)) - L log K        (L grid positions, K codes),

and with a learned prior p(c) it is log p(x | z_q(x)) + log p(c(x)). The posterior is a point mass
on the codes of x, so this is the importance-sampled bound for any k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.posterior import PointMass
from vaekit.models.base import BaseModel, LogWeightsFn, ModelExample, log_weights
from vaekit.models.checks import check_data_batch
from vaekit.models.code_prior import TransformerCodePrior
from vaekit.models.conditioner import LabelConditioner
from vaekit.models.output import SamplingUnavailableError, VAEOutput
from vaekit.nn.grid_conv import GridConvDecoder, GridConvEncoder
from vaekit.nn.quantizer import QuantizerOutput, VectorQuantizer
from vaekit.registry import build, register, register_builder


class MissingPriorError(SamplingUnavailableError):
    """A VQ-VAE was asked to generate before its prior over codes was trained."""


class CodePosterior(Distribution):
    """q(c|x) of a VQ-VAE: a point mass on the code grid of each input, batch shape (B,).

    ``log_prob(c)`` is 0 where c equals the encoded grid at every position and -inf elsewhere.
    """

    arg_constraints: dict = {}

    def __init__(self, indices: Tensor):
        self.indices = indices  # (B, h, w)
        super().__init__(batch_shape=indices.shape[:1], validate_args=False)

    def log_prob(self, codes: Tensor) -> Tensor:
        same = (codes == self.indices).flatten(-2).all(-1)  # (..., B)
        return torch.zeros(same.shape, device=codes.device).masked_fill(~same, -math.inf)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        return self.indices.expand(*sample_shape, *self.indices.shape)


class CodePriorDistribution(Distribution):
    """p(c) of a VQ-VAE over code grids: the learned prior's, or uniform over the K^L grids without one."""

    arg_constraints: dict = {}

    def __init__(self, model: VQVAE, y: Tensor | None = None):
        self.model, self.y = model, y
        super().__init__(batch_shape=torch.Size(), validate_args=False)

    def log_prob(self, codes: Tensor) -> Tensor:
        lead = codes.shape[:-2]
        flat = codes.reshape(-1, *codes.shape[-2:])  # (N, h, w)
        y = self.y
        if y is not None and flat.shape[0] != y.shape[0]:
            y = y.repeat(flat.shape[0] // y.shape[0])
        return self.model.prior_log_prob(flat, y).view(lead)


@dataclass
class VQVAEOutput(VAEOutput):
    """What one forward pass of a VQ-VAE produces: a :class:`vaekit.models.VAEOutput` whose latent is the
    code grid, so :func:`vaekit.objectives.elbo` of this output is the VQ-VAE's bound (the KL of the
    point-mass posterior is -log p(codes): L log K under the uniform prior), plus the quantizer's work.

    Attributes:
        q_z: the point-mass posterior over code grids.
        p_z: the prior over code grids.
        z: the code grid of each input, (B, h, w) integers.
        p_x: the likelihood p(x | z_q), batch shape (B,).
        z_e: encoder outputs, (B, D, h, w).
        quantized: the quantizer's output (straight-through latents, indices, losses, diagnostics).
    """

    z_e: Tensor = field(kw_only=True)
    quantized: QuantizerOutput = field(kw_only=True)


@register("model", "vqvae")
class VQVAE(BaseModel):
    """A VQ-VAE built from parts, with an optional prior over its code grid.

    Args:
        data_shape: shape of one example, ``[C, H, W]``.
        encoder: network from data to a channel-first latent grid (B, D, h, w).
        quantizer: the vector quantizer with D-wide codes.
        decoder: network from a latent grid to likelihood parameters.
        likelihood: decoder output -> p(x | z_q).
        prior: an autoregressive prior over code grids (added by ``with_prior`` after stage one).
    """

    objective_names = ("vq",)
    accepts_integer_input = False

    def __init__(
        self,
        data_shape: Sequence[int],
        encoder: nn.Module,
        quantizer: VectorQuantizer,
        decoder: nn.Module,
        likelihood: Likelihood,
        prior: TransformerCodePrior | None = None,
    ):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.encoder = encoder
        self.quantizer = quantizer
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        device = next(encoder.parameters()).device
        with torch.no_grad():
            probe = encoder(torch.zeros(1, *self.data_shape, device=device))  # (1, D, h, w)
        if probe.dim() != 4 or probe.shape[1] != quantizer.code_dim:
            raise ValueError(
                f"the encoder must output a grid (batch, {quantizer.code_dim}, h, w); got {tuple(probe.shape)}"
            )
        self.grid = (int(probe.shape[2]), int(probe.shape[3]))
        self.latent_dim = quantizer.code_dim * self.grid[0] * self.grid[1]
        if prior is not None and (prior.num_codes != quantizer.num_codes or prior.grid != self.grid):
            raise ValueError(
                f"the prior is for {prior.num_codes} codes on a {prior.grid} grid; "
                f"this model has {quantizer.num_codes} codes on a {self.grid} grid"
            )
        # Labels condition only the prior; exposing them as a conditioner tells the CLI to pass y.
        has_labels = prior is not None and prior.n_classes is not None
        self.conditioner = LabelConditioner(prior.n_classes) if has_labels else None

    # ----------------------------------------------------------------- checks
    def check_input(self, x: Tensor, y: Tensor | None = None) -> None:
        """Raise ValueError naming the problem if ``x`` (and ``y``) cannot be fed to this model."""
        check_data_batch(x, self.data_shape, self.likelihood, allow_integer=self.accepts_integer_input)
        if y is not None and self.conditioner is not None:
            self.conditioner.check(y, x.shape[0])

    # -------------------------------------------------------------- the parts
    def forward(self, x: Tensor, y: Tensor | None = None, n_samples: int = 1, check: bool = True) -> VQVAEOutput:
        """Encode to a grid, quantize (straight-through), decode. ``y`` only conditions the prior (``p_z``).

        The posterior is a point mass on the codes, so ``n_samples`` draws are the same grid repeated:
        ``z`` is (B, h, w) for one draw and (S, B, h, w) for several; ``p_x`` keeps batch shape (B,).
        """
        if check:
            self.check_input(x, y)
        z_e = self.encoder(x)  # (B, D, h, w)
        q = self.quantizer(z_e)
        q_z = CodePosterior(q.indices)
        z = q_z.sample() if n_samples == 1 else q_z.sample((n_samples,))
        return VQVAEOutput(q_z=q_z, p_z=self._code_prior(y), z=z, p_x=self.decode(q.z_q), z_e=z_e, quantized=q)

    def _code_prior(self, y: Tensor | None) -> CodePriorDistribution:
        """p(codes); labels condition it only when the prior is class-conditional."""
        return CodePriorDistribution(self, y if self.conditioner is not None else None)

    def encode_indices(self, x: Tensor, check: bool = True) -> Tensor:
        """The code index of each grid position of each input: (B, h, w) integers."""
        if check:
            self.check_input(x)
        return self.quantizer.nearest(self.encoder(x).movedim(1, -1).reshape(-1, self.quantizer.code_dim)).view(
            x.shape[0], *self.grid
        )

    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:
        """q(z|x) over the flattened quantized grid: a point mass (no density), event shape (latent_dim,)."""
        if check:
            self.check_input(x, y)
        codes = self.quantizer.lookup(self.encode_indices(x, check=False))  # (B, D, h, w)
        return PointMass(codes.flatten(1))  # (B, D*h*w)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z) for latents as a grid (B, D, h, w) or flattened (..., latent_dim); batch shape is the leading dims."""
        if z.dim() == 4 and tuple(z.shape[1:]) == (self.quantizer.code_dim, *self.grid):
            lead: tuple[int, ...] = (z.shape[0],)
            grid = z
        else:
            if z.shape[-1] != self.latent_dim:
                raise ValueError(
                    f"latents must be (batch, {self.quantizer.code_dim}, {self.grid[0]}, {self.grid[1]}) "
                    f"or (..., {self.latent_dim}); got {tuple(z.shape)}"
                )
            lead = tuple(z.shape[:-1])
            grid = z.reshape(-1, self.quantizer.code_dim, *self.grid)
        params = self.decoder(grid)
        return self.likelihood(params.view(*lead, *params.shape[1:]), len(self.data_shape))

    def decode_indices(self, indices: Tensor) -> Distribution:
        """p(x | codes) for a grid of code indices (B, h, w)."""
        return self.decode(self.quantizer.lookup(indices))

    # ------------------------------------------------------------ likelihoods
    def prior_log_prob(self, indices: Tensor, y: Tensor | None = None) -> Tensor:
        """log p(codes) in nats, (B,): the learned prior's, or the uniform -L log K without one."""
        if self.prior is None:
            positions = self.grid[0] * self.grid[1]
            uniform = -positions * math.log(self.quantizer.num_codes)
            return torch.full((indices.shape[0],), uniform, device=indices.device)
        return self.prior.log_prob(indices, y)

    def log_weights_sampler(self, x: Tensor, y: Tensor | None = None) -> LogWeightsFn:
        """log p(x | z_q) + log p(codes) - log q(codes | x), with q a point mass on the codes (log q = 0).

        The posterior is deterministic, so all n weights are equal and the bound does not rise with k:
        they are computed once and repeated.
        """
        indices = self.encode_indices(x, check=False)  # (B, h, w)
        q_c = CodePosterior(indices)
        output = VAEOutput(q_z=q_c, p_z=self._code_prior(y), z=indices, p_x=self.decode_indices(indices))
        log_w = log_weights(output, x)  # (B,)
        return lambda n: log_w.unsqueeze(0).expand(n, -1)

    # -------------------------------------------------------------- generation
    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, y: Tensor | None = None, mean: bool = True) -> Tensor:
        """Draw n images: code grids from the learned prior (logits divided by ``temperature``), then decode.

        Raises:
            MissingPriorError: no prior has been trained yet (run ``vaekit train-prior RUN``).
        """
        if self.prior is None:
            raise MissingPriorError(
                "this VQ-VAE has no prior over its codes yet, so it cannot generate: "
                "train one with `vaekit train-prior RUN` (or `model.with_prior(...)` and the 'code_prior' objective)"
            )
        if self.conditioner is not None and y is None:
            raise ValueError("this VQ-VAE's prior is class-conditional: pass y to choose the classes to generate")
        indices = self.prior.sample(n, temperature, y)
        p_x = self.decode_indices(indices)
        return p_x.mean if mean else p_x.sample()

    @classmethod
    def examples(cls) -> list[ModelExample]:
        """Tiny VQ-VAEs for the contract tests: stage one (no prior; it cannot sample) and one with a
        class-conditional prior over codes (stage two's model, which samples; nothing of it trains on "vq")."""
        images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        spec = {"type": "vqvae", "num_codes": 8, "code_dim": 4, "channels": [8], "residual_blocks": 0}
        prior = {"width": 8, "layers": 1, "heads": 2, "n_classes": 2}
        return [
            ModelExample({**spec, "init": "random"}, images),
            ModelExample({**spec, "prior": prior}, images, torch.tensor([0, 1, 0, 1]), objectives={}),
        ]

    def with_prior(self, prior: TransformerCodePrior | None) -> VQVAE:
        """A VQ-VAE sharing this one's trained parts, with ``prior`` over its codes (None removes it)."""
        return type(self)(self.data_shape, self.encoder, self.quantizer, self.decoder, self.likelihood, prior)

    def new_prior(self, **arguments: Any) -> TransformerCodePrior:
        """A fresh (untrained) Transformer prior sized for this model's codebook and grid."""
        return TransformerCodePrior(num_codes=self.quantizer.num_codes, grid=list(self.grid), **arguments)


@register_builder("vqvae", objective="vq")
def build_vqvae(
    data_shape: Sequence[int],
    num_codes: int = 512,
    code_dim: int = 64,
    channels: Sequence[int] = (64, 128),
    residual_blocks: int = 2,
    activation: str = "relu",
    likelihood: str | dict[str, Any] = "discretized_logistic",
    beta: float = 0.25,
    update: str = "ema",
    decay: float = 0.99,
    init: str = "kmeans",
    restart_dead: bool = True,
    prior: dict[str, Any] | None = None,
) -> VQVAE:
    """Build a VQ-VAE for images of ``data_shape`` ``[C, H, W]``.

    Args:
        data_shape: shape of one image.
        num_codes: codebook size K.
        code_dim: width D of each code.
        channels: encoder stage channels (each stage halves height and width; the decoder mirrors them).
        residual_blocks: residual blocks in encoder and decoder.
        activation: activation name.
        likelihood: a likelihood name or ``{"type": name, **arguments}`` (default: discretized
            logistic on 256 levels, so bits/dim are those of the 8-bit data).
        beta: commitment loss weight.
        update: "ema" or "loss" codebook learning.
        decay: EMA decay gamma.
        init: "kmeans" or "random" codebook initialization.
        restart_dead: restart codes that fall out of use.
        prior: arguments of a Transformer prior over codes to include from the start (``width``,
            ``layers``, ``heads``, ``dropout``, ``n_classes``); usually added later by ``train-prior``.

    Returns:
        The model, untrained.
    """
    data_shape = [int(s) for s in data_shape]
    if len(data_shape) != 3:
        raise ValueError(f"a VQ-VAE needs image data [C, H, W]; got data_shape {data_shape}")
    lik = build("likelihood", likelihood)
    encoder = GridConvEncoder(data_shape, channels, code_dim, residual_blocks, activation)
    decoder = GridConvDecoder(
        code_dim, list(lik.param_shape(data_shape)), list(reversed(channels)), residual_blocks, activation
    )
    quantizer = VectorQuantizer(
        num_codes=num_codes,
        code_dim=code_dim,
        beta=beta,
        update=update,
        decay=decay,
        init=init,
        restart_dead=restart_dead,
    )
    model = VQVAE(data_shape, encoder, quantizer, decoder, lik)
    return model if prior is None else model.with_prior(model.new_prior(**prior))
