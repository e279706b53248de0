"""A deep hierarchical VAE in the style of NVAE (Vahdat & Kautz 2020), composed from vaekit's parts.

The latents are L groups of feature maps z_1 (top, coarsest) ... z_L over several scales:

    p(z) = prod_l p(z_l | z_<l),   q(z|x) = prod_l q(z_l | x, z_<l),

with p(z_1) = N(0, I). A bottom-up encoder tower gives one feature map per group; a top-down
decoder tower carries a state h that each drawn z_l updates. The prior of group l is a head on h;
the posterior is parameterized *relative to the prior* (the residual parameterization):
q(z_l) = N(mu_p + dmu, (sigma_p * exp(dlog_sigma))^2), with (dmu, dlog_sigma) computed from the
encoder feature of the group combined with h.

Every conditional is a diagonal Gaussian, so the forward pass exposes the whole hierarchy as
two diagonal Gaussians over the concatenation of all groups (flattened top to bottom):
``q_z`` (the posteriors) and ``p_z`` (the priors, evaluated at the drawn upper groups). Their
log densities at ``z`` are exactly log q(z|x) and log p(z), and their per-dimension analytic KL
summed is the usual hierarchical KL sum_l E_q[KL(q(z_l|x, z_<l) || p(z_l|z_<l))] (single-sample
in the upper groups). This is why the generic ELBO, the one likelihood estimator and the latent
diagnostics work unchanged on this model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.posterior import diagonal_gaussian
from vaekit.models.base import BaseModel, LogWeightsFn, ModelExample, log_weights
from vaekit.models.output import VAEOutput
from vaekit.nn.cells import (
    DownsampleCell,
    EncoderCell,
    GenerativeCell,
    ShuffleDownsampleCell,
    ShuffleUpsampleCell,
    UpsampleCell,
    downsampled_size,
)
from vaekit.registry import build, register, register_builder

# At most this many (sample, example) pairs go through the network in one pass when
# estimating log-likelihoods with many importance samples (a memory bound).
MAX_PAIRS_PER_PASS = 2048


# How preprocessing / postprocessing stages resample: (downsampling cell, upsampling cell).
RESAMPLING = {"conv": (DownsampleCell, UpsampleCell), "shuffle": (ShuffleDownsampleCell, ShuffleUpsampleCell)}


@dataclass
class HierarchicalOutput(VAEOutput):
    """A :class:`VAEOutput` whose latent vector is the concatenation of the groups, top first;
    ``group_sizes`` holds the number of latent values of each group, top (coarsest) first."""


@dataclass
class _GroupParams:
    """Per-group Gaussian parameters and draws of one top-down pass, each (N, c, h, w)."""

    q_mu: list[Tensor]
    q_log_sigma: list[Tensor]
    p_mu: list[Tensor]
    p_log_sigma: list[Tensor]
    z: list[Tensor]


def soft_clamp(x: Tensor, bound: float = 5.0) -> Tensor:
    """bound * tanh(x / bound): a smooth clamp to (-bound, bound) that keeps gradients alive."""
    return bound * torch.tanh(x / bound)


def _gaussian_head(channels: int, latent_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ELU(), nn.Conv2d(channels, 2 * latent_channels, 3, padding=1))


class HierarchicalPriorDistribution(Distribution):
    """p(z) of a hierarchical VAE over the concatenated groups: log p(z) = sum_l log p(z_l | z_<l),
    each conditional computed by the top-down tower at the given upper groups. Event shape (latent_dim,)."""

    arg_constraints: dict = {}

    def __init__(self, model: HierarchicalVAE):
        self.model = model
        super().__init__(event_shape=torch.Size([model.latent_dim]), validate_args=False)

    def log_prob(self, z: Tensor) -> Tensor:
        flat = z.reshape(-1, z.shape[-1])  # (N, D)
        _, rec = self.model._top_down(flat.shape[0], z_given=self.model.split_groups(flat))
        p = diagonal_gaussian(self.model._flat(rec.p_mu), 2 * self.model._flat(rec.p_log_sigma))
        return p.log_prob(flat).view(z.shape[:-1])

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        n = int(torch.Size(sample_shape).numel())
        return self.model.prior.sample(n).view(*sample_shape, self.model.latent_dim)


class HierarchicalPrior:
    """The prior interface of :class:`~vaekit.models.base.BaseModel` for a hierarchical VAE:
    ``prior()`` is p(z), ``prior.sample(n, temperature)`` draws (n, latent_dim) top-down."""

    def __init__(self, model: HierarchicalVAE):
        self.model = model

    def __call__(self) -> HierarchicalPriorDistribution:
        return HierarchicalPriorDistribution(self.model)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> Tensor:
        """n draws of all groups, each from its prior given the groups above (spread scaled by ``temperature``)."""
        _, rec = self.model._top_down(int(n), temperature=temperature)
        return self.model._flat(rec.z)


@register("model", "hierarchical")
class HierarchicalVAE(BaseModel):
    """NVAE-style deep hierarchical VAE for images.

    Layout (all sizes are arguments): a stem convolution, ``preprocess_scales`` downsampling
    stages of encoder cells (channels double each time, reaching ``channels``), then the latent
    scales. ``groups_per_scale`` lists the number of latent groups per scale, from the top
    (coarsest) scale down; consecutive scales differ by a factor 2 in resolution. The decoder
    mirrors the encoder with generative (depthwise) cells and ends in a convolution to the
    likelihood's parameters.

    ``encode(x)`` returns the posterior over *all* groups concatenated (top first), computed with
    the upper groups set to their posterior means, so that ``decode(encode(x).mean)`` is a
    deterministic reconstruction. The model is unconditional (``conditioner`` is None).

    Args:
        data_shape: ``[C, H, W]`` of one image (any size).
        likelihood: the likelihood p(x|z) (e.g. Bernoulli, discretized logistic).
        channels: width of the latent scales.
        latent_channels: channels of each latent group's feature map.
        groups_per_scale: number of latent groups per scale, top (coarsest) scale first.
        preprocess_scales: downsampling stages between the data and the finest latent scale.
        preprocess_cells: encoder cells per preprocessing stage (mirrored by postprocessing cells).
        encoder_cells: encoder cells per latent group in the bottom-up tower.
        decoder_cells: generative cells before each latent group (after the first) in the top-down tower.
        expansion: width factor of the generative cells' depthwise bottleneck.
        kernel_size: depthwise kernel size of the generative cells.
        squeeze_excitation: use squeeze-and-excitation gates in the cells.
        residual_scale: factor of every cell's residual branch.
        resampling: how the preprocessing and postprocessing stages change resolution: "conv"
            (strided 3x3 convolution / upsampling and 3x3 convolution) or "shuffle" (space-to-depth
            and depth-to-space with 1x1 convolutions, several times cheaper; for small CPU budgets).
        patch_size: fold each ``patch_size`` x ``patch_size`` patch of pixels into channels before the
            stem (space-to-depth) and unfold the likelihood's parameters back (depth-to-space), so that
            no layer runs at full resolution (4 on 28x28 images: the network starts at 7x7; the
            cheapest layout on a CPU). The image sides must be multiples of it.
        head_channels: width of a hidden layer in the output head (3x3 convolution, ELU, 1x1 convolution to
            the likelihood's parameters); 0: one 3x3 convolution straight to them.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        likelihood: Likelihood,
        channels: int = 64,
        latent_channels: int = 8,
        groups_per_scale: Sequence[int] = (2, 2),
        preprocess_scales: int = 2,
        preprocess_cells: int = 1,
        encoder_cells: int = 1,
        decoder_cells: int = 1,
        expansion: int = 3,
        kernel_size: int = 5,
        squeeze_excitation: bool = True,
        residual_scale: float = 0.1,
        resampling: str = "conv",
        patch_size: int = 1,
        head_channels: int = 0,
    ):
        super().__init__()
        if resampling not in RESAMPLING:
            raise ValueError(f"unknown resampling {resampling!r}; valid: {sorted(RESAMPLING)}")
        down_cell, up_cell = RESAMPLING[resampling]
        self.data_shape = tuple(int(s) for s in data_shape)
        if len(self.data_shape) != 3:
            raise ValueError(f"a hierarchical VAE needs image data [C, H, W]; got data_shape {list(data_shape)}")
        if not groups_per_scale or any(int(g) < 1 for g in groups_per_scale):
            raise ValueError(f"groups_per_scale needs at least one group per scale, got {list(groups_per_scale)}")
        self.likelihood = likelihood
        self.conditioner = None
        self.groups_per_scale = tuple(int(g) for g in groups_per_scale)
        self.latent_channels = int(latent_channels)
        self.n_groups = sum(self.groups_per_scale)
        channels, pre = int(channels), int(preprocess_scales)
        self.patch_size = int(patch_size)
        if self.patch_size < 1 or any(side % self.patch_size for side in self.data_shape[1:]):
            raise ValueError(
                f"patch_size {patch_size} must be positive and divide the image sides {self.data_shape[1:]}"
            )
        se, scale = bool(squeeze_excitation), float(residual_scale)

        # ---- sizes: preprocessing widths double towards `channels`; resolutions halve.
        widths = [max(channels >> (pre - i), 8) for i in range(pre)] + [channels]  # (pre + 1,)
        sizes = [tuple(side // self.patch_size for side in self.data_shape[1:])]
        for _ in range(pre):
            sizes.append(downsampled_size(sizes[-1]))
        scale_sizes = [sizes[-1]]  # latent scales, finest first
        for _ in range(len(self.groups_per_scale) - 1):
            scale_sizes.append(downsampled_size(scale_sizes[-1]))
        scale_sizes.reverse()  # top (coarsest) first
        self._scale_sizes = scale_sizes
        self.group_shapes = [
            (self.latent_channels, *scale_sizes[s]) for s, n in enumerate(self.groups_per_scale) for _ in range(n)
        ]
        self.group_sizes = tuple(c * h * w for c, h, w in self.group_shapes)
        self.latent_dim = sum(self.group_sizes)

        # ---- bottom-up
        in_c = self.data_shape[0]
        self.stem = nn.Conv2d(in_c * self.patch_size**2, widths[0], 3, padding=1)
        self.preprocess = nn.ModuleList(
            nn.Sequential(
                *[EncoderCell(widths[i], se, scale) for _ in range(int(preprocess_cells))],
                down_cell(widths[i], widths[i + 1]),
            )
            for i in range(pre)
        )
        self.encoder_tower = nn.ModuleList(
            nn.Sequential(*[EncoderCell(channels, se, scale) for _ in range(int(encoder_cells))])
            for _ in range(self.n_groups)
        )
        self.encoder_down = nn.ModuleList(
            DownsampleCell(channels, channels) for _ in range(len(self.groups_per_scale) - 1)
        )

        # ---- top-down (index g: group g counted from the top)
        self.top_state = nn.Parameter(torch.zeros(1, channels, *scale_sizes[0]))
        self.decoder_tower = nn.ModuleList(
            nn.Sequential(
                *[GenerativeCell(channels, expansion, kernel_size, se, scale) for _ in range(int(decoder_cells))]
            )
            for _ in range(self.n_groups - 1)
        )
        self.decoder_up = nn.ModuleList(
            UpsampleCell(channels, channels, scale_sizes[s]) for s in range(1, len(self.groups_per_scale))
        )
        self.prior_heads = nn.ModuleList(
            _gaussian_head(channels, self.latent_channels) for _ in range(self.n_groups - 1)
        )
        self.posterior_mix = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(self.n_groups))
        self.posterior_heads = nn.ModuleList(
            _gaussian_head(channels, self.latent_channels) for _ in range(self.n_groups)
        )
        self.latent_mix = nn.ModuleList(nn.Conv2d(self.latent_channels, channels, 1) for _ in range(self.n_groups))
        postprocess: list[nn.Module] = []
        for i in reversed(range(pre)):
            postprocess.append(up_cell(widths[i + 1], widths[i], sizes[i]))
            postprocess += [
                GenerativeCell(widths[i], expansion, kernel_size, se, scale) for _ in range(int(preprocess_cells))
            ]
        self.postprocess = nn.Sequential(*postprocess)
        out_c = likelihood.param_shape(self.data_shape)[0] * self.patch_size**2
        if int(head_channels) > 0:
            head: list[nn.Module] = [nn.Conv2d(widths[0], int(head_channels), 3, padding=1), nn.ELU()]
            head.append(nn.Conv2d(int(head_channels), out_c, 1))
        else:
            head = [nn.Conv2d(widths[0], out_c, 3, padding=1)]
        self.to_params = nn.Sequential(nn.ELU(), *head, nn.PixelShuffle(self.patch_size))

    @property
    def prior(self) -> HierarchicalPrior:
        """p(z) = prod_l p(z_l | z_<l) over the concatenated groups (a view of this model, no parameters)."""
        return HierarchicalPrior(self)

    # ------------------------------------------------------------- the towers
    def _network_input(self, x: Tensor) -> Tensor:
        if not x.is_floating_point():
            x = x.float() / (self.likelihood.discrete_levels - 1)
        return 2.0 * x - 1.0  # [0, 1] -> [-1, 1]

    def _bottom_up(self, x: Tensor) -> list[Tensor]:
        """One feature map per latent group, top group first: each (B, channels, h, w)."""
        h = self.stem(F.pixel_unshuffle(self._network_input(x), self.patch_size))  # (B, C * p * p, H / p, W / p)
        for stage in self.preprocess:
            h = stage(h)
        features = []
        group = 0
        n_scales = len(self.groups_per_scale)
        for s, n in enumerate(reversed(self.groups_per_scale)):  # finest scale first
            for _ in range(n):
                h = self.encoder_tower[group](h)
                features.append(h)
                group += 1
            if s < n_scales - 1:
                h = self.encoder_down[s](h)
        features.reverse()
        return features

    def _top_down(
        self,
        batch: int,
        features: list[Tensor] | None = None,
        z_given: list[Tensor] | None = None,
        temperature: float = 1.0,
        use_mean: bool = False,
    ) -> tuple[Tensor, _GroupParams]:
        """Run the generative tower; z_l is drawn from the posterior (``features`` given), taken from
        ``z_given``, or drawn from the prior with its spread scaled by ``temperature``."""
        h = self.top_state.expand(batch, -1, -1, -1)
        rec = _GroupParams([], [], [], [], [])
        group = 0
        for s, n in enumerate(self.groups_per_scale):
            if s > 0:
                h = self.decoder_up[s - 1](h)
            for _ in range(n):
                if group == 0:
                    shape = (batch, *self.group_shapes[0])
                    p_mu = h.new_zeros(shape)
                    p_log_sigma = h.new_zeros(shape)
                else:
                    h = self.decoder_tower[group - 1](h)
                    p_mu, p_log_sigma = self.prior_heads[group - 1](h).chunk(2, dim=1)  # (N, c, h, w) each
                    p_mu, p_log_sigma = soft_clamp(p_mu), soft_clamp(p_log_sigma)
                if features is not None:
                    d_mu, d_log_sigma = self.posterior_heads[group](
                        features[group] + self.posterior_mix[group](h)
                    ).chunk(2, dim=1)
                    q_mu, q_log_sigma = p_mu + soft_clamp(d_mu), p_log_sigma + soft_clamp(d_log_sigma)
                    rec.q_mu.append(q_mu)
                    rec.q_log_sigma.append(q_log_sigma)
                    z = q_mu if use_mean else q_mu + q_log_sigma.exp() * torch.randn_like(q_mu)
                elif z_given is not None:
                    z = z_given[group]
                else:
                    z = p_mu + temperature * p_log_sigma.exp() * torch.randn_like(p_mu)
                rec.p_mu.append(p_mu)
                rec.p_log_sigma.append(p_log_sigma)
                rec.z.append(z)
                h = h + self.latent_mix[group](z)
                group += 1
        return h, rec

    def _likelihood_params(self, h: Tensor) -> Tensor:
        return self.to_params(self.postprocess(h))  # (N, param_channels * C, H, W)

    @staticmethod
    def _flat(maps: list[Tensor]) -> Tensor:
        return torch.cat([m.flatten(1) for m in maps], dim=1)  # (N, D)

    def split_groups(self, z: Tensor) -> list[Tensor]:
        """(N, D) concatenated latents -> one (N, c, h, w) map per group, top first."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"latent vectors have {z.shape[-1]} values; this model has {self.latent_dim}")
        return [
            part.reshape(z.shape[0], *shape) for part, shape in zip(z.split(self.group_sizes, -1), self.group_shapes)
        ]

    # --------------------------------------------------------------- the interface
    def forward(self, x: Tensor, y: Tensor | None = None, n_samples: int = 1, check: bool = True) -> HierarchicalOutput:
        """Encode bottom-up, draw every group top-down from its posterior, decode.

        Args:
            x: a batch of images, (B, C, H, W).
            y: must be None (the model is unconditional).
            n_samples: draws of the latents per example; with more than one, ``z`` is (S, B, D).
            check: validate the input.
        """
        if check:
            self.check_input(x, y)
        features = self._bottom_up(x)
        batch = x.shape[0]
        if n_samples > 1:  # the encoder is deterministic: repeat its features, not its work
            features = [f.repeat(n_samples, 1, 1, 1) for f in features]
        h, rec = self._top_down(batch * n_samples, features)
        params = self._likelihood_params(h)
        lead = (batch,) if n_samples == 1 else (n_samples, batch)

        def vector(maps: list[Tensor]) -> Tensor:
            return self._flat(maps).view(*lead, self.latent_dim)  # (B, D) or (S, B, D)

        q_z = diagonal_gaussian(vector(rec.q_mu), 2 * vector(rec.q_log_sigma))
        p_z = diagonal_gaussian(vector(rec.p_mu), 2 * vector(rec.p_log_sigma))
        p_x = self.likelihood(params.view(*lead, *params.shape[1:]), len(self.data_shape))
        return HierarchicalOutput(q_z=q_z, p_z=p_z, z=vector(rec.z), p_x=p_x, group_sizes=self.group_sizes)

    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:
        """q(z|x) over all groups concatenated (top group first), batch shape (B,), event (latent_dim,).

        The lower groups' posteriors are computed with the upper groups at their posterior means.
        """
        if check:
            self.check_input(x, y)
        _, rec = self._top_down(x.shape[0], self._bottom_up(x), use_mean=True)
        return diagonal_gaussian(self._flat(rec.q_mu), 2 * self._flat(rec.q_log_sigma))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z) for concatenated latents z of shape (..., latent_dim); batch shape z.shape[:-1]."""
        if y is not None:
            raise ValueError("this hierarchical VAE is not conditional; it takes no y")
        lead = z.shape[:-1]
        flat = z.reshape(-1, z.shape[-1])
        h, _ = self._top_down(flat.shape[0], z_given=self.split_groups(flat))
        params = self._likelihood_params(h)
        return self.likelihood(params.view(*lead, *params.shape[1:]), len(self.data_shape))

    def log_importance_weights(self, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """log p(x, z_i) - log q(z_i|x) for k draws of all groups: shape (k, B).

        The draws go through the network in chunks of at most ``MAX_PAIRS_PER_PASS`` pairs.
        """
        if y is not None:
            raise ValueError("this hierarchical VAE is not conditional; it takes no y")
        per_pass = max(1, MAX_PAIRS_PER_PASS // max(1, x.shape[0]))
        chunks, done = [], 0
        while done < k:
            n = min(per_pass, k - done)
            chunks.append(log_weights(self.forward(x, n_samples=n, check=False), x).view(n, x.shape[0]))
            done += n
        return torch.cat(chunks)

    def log_weights_sampler(self, x: Tensor, y: Tensor | None = None) -> LogWeightsFn:
        """Each call runs the whole model: the posterior of a lower group depends on the draws above it."""
        return lambda n: self.log_importance_weights(x, n, y)

    @classmethod
    def examples(cls) -> list[ModelExample]:
        """A two-scale model on 8x8 binary images for the contract tests."""
        images = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
        spec = {"type": "hierarchical", "channels": 8, "latent_channels": 2, "groups_per_scale": [1, 1]}
        return [ModelExample({**spec, "preprocess_scales": 1, "expansion": 1, "kernel_size": 3}, images)]

    # -------------------------------------------------------------- generation
    def _generative_batch_norms(self) -> list[nn.BatchNorm2d]:
        towers = (self.decoder_tower, self.decoder_up, self.postprocess)
        return [m for tower in towers for m in tower.modules() if isinstance(m, nn.BatchNorm2d)]

    @contextlib.contextmanager
    def readjusted_batch_norm(self, temperature: float, steps: int = 20, batch_size: int = 128) -> Iterator[None]:
        """Within the block, the generative tower's batch-norm statistics are re-estimated from
        samples drawn at ``temperature`` (as NVAE does before sampling at low temperature);
        the original statistics are restored afterwards.

        Args:
            temperature: the temperature the samples will be drawn at.
            steps: batches of prior samples used for the estimate.
            batch_size: examples per batch.
        """
        norms = self._generative_batch_norms()
        saved = [({k: v.clone() for k, v in m.state_dict().items()}, m.momentum) for m in norms]
        was_training = self.training
        try:
            self.eval()
            with torch.no_grad():
                for m in norms:
                    m.reset_running_stats()
                    m.momentum = None  # cumulative average over the readjustment batches
                    m.train()
                for _ in range(int(steps)):
                    h, _ = self._top_down(int(batch_size), temperature=temperature)
                    self._likelihood_params(h)
                for m in norms:
                    m.eval()
            yield
        finally:
            for m, (state, momentum) in zip(norms, saved):
                m.load_state_dict(state)
                m.momentum = momentum
            self.train(was_training)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        y: Tensor | None = None,
        mean: bool = True,
        readjust_batch_norm: bool | None = None,
    ) -> Tensor:
        """Draw n images: each group from its prior given the groups above, with every prior's
        standard deviation scaled by ``temperature``; then decode.

        Args:
            n: number of images.
            temperature: scale of the priors' spread (below 1 trades variety for quality).
            y: must be None (unconditional model).
            mean: return the likelihood's mean (True) or a draw from it.
            readjust_batch_norm: re-estimate the generative batch-norm statistics at this temperature
                first (None: only when ``temperature != 1``).
        """
        if y is not None:
            raise ValueError("this hierarchical VAE is not conditional; it takes no y")
        if readjust_batch_norm is None:
            readjust_batch_norm = temperature != 1.0
        was_training = self.training
        context = self.readjusted_batch_norm(temperature) if readjust_batch_norm else contextlib.nullcontext()
        try:
            with context:
                self.eval()
                h, _ = self._top_down(int(n), temperature=temperature)
                p_x = self.likelihood(self._likelihood_params(h), len(self.data_shape))
                return p_x.mean if mean else p_x.sample()
        finally:
            self.train(was_training)


@register_builder("hierarchical", mirrors=HierarchicalVAE)
def build_hierarchical(
    data_shape: Sequence[int], likelihood: str | dict[str, Any] = "bernoulli", **arguments: Any
) -> HierarchicalVAE:
    """Build an NVAE-style hierarchical VAE for images of ``data_shape`` (see :class:`HierarchicalVAE`).

    Args:
        data_shape: ``[C, H, W]``.
        likelihood: a likelihood name or ``{"type": name, **arguments}``.
        **arguments: any other argument of :class:`HierarchicalVAE`, with its defaults.

    Returns:
        The model, untrained.
    """
    return HierarchicalVAE([int(s) for s in data_shape], build("likelihood", likelihood), **arguments)
