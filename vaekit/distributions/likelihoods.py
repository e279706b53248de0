"""Likelihoods p(x|z): map decoder outputs to a distribution over one example's data.

Every likelihood declares ``param_channels`` (how many parameter tensors of the data's
shape the decoder must produce, stacked along the first data dimension) and turns a
decoder output into a distribution whose ``log_prob(x)`` sums over the data dimensions,
giving one value per example, and whose ``mean`` is the reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, Normal

from vaekit.registry import Part, register


class Likelihood(Part):
    """Base class: ``forward(params, data_ndim)`` returns the distribution p(x|z)."""

    param_channels: int = 1
    discrete_levels: int | None = None  # e.g. 256 for 8-bit data: used for bits/dim

    def param_shape(self, data_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of the decoder output for one example of ``data_shape``."""
        shape = tuple(int(s) for s in data_shape)
        return (shape[0] * self.param_channels, *shape[1:])

    def split(self, params: Tensor, data_ndim: int) -> Tensor:
        """(*batch, m*C, ...) -> (m, *batch, C, ...): one tensor of the data's shape per parameter."""
        axis = params.dim() - data_ndim
        m = self.param_channels
        shape = (*params.shape[:axis], m, params.shape[axis] // m, *params.shape[axis + 1 :])
        return params.view(shape).movedim(axis, 0)

    def check_data(self, x: Tensor) -> None:
        """Raise ValueError if ``x`` is outside this likelihood's support."""

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError


@register("likelihood", "bernoulli")
class BernoulliLikelihood(Likelihood):
    """Bernoulli over each value, parameterized by logits; x in [0, 1] (binary or grey levels)."""

    def __init__(self) -> None:
        super().__init__()

    def check_data(self, x: Tensor) -> None:
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(
                f"a Bernoulli likelihood needs data in [0, 1]; got values in [{x.min():.3g}, {x.max():.3g}]"
            )

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:
        return IndependentBernoulli(params, data_ndim)


class IndependentBernoulli(Independent):
    """Independent Bernoulli values over the last ``data_ndim`` dimensions, from logits.

    Same distribution as ``Independent(Bernoulli(logits), data_ndim)``, with a faster ``log_prob``:
    log p(x) = sum_j x_j l_j - softplus(l_j), without broadcasting x to the logits' shape first.
    For x in [0, 1] that are not binary it is the same (unnormalized) value torch's Bernoulli gives.
    """

    def __init__(self, logits: Tensor, data_ndim: int):
        # Independent itself has no arguments to validate, and log_prob below skips sample validation.
        super().__init__(Bernoulli(logits=logits, validate_args=False), data_ndim)

    def log_prob(self, value: Tensor) -> Tensor:
        n = self.reinterpreted_batch_ndims
        logits = self.base_dist.logits.flatten(-n)  # (..., N)
        value = value.flatten(-n).to(logits.dtype)  # (..., N), broadcast against the logits
        return (logits * value).sum(-1) - F.softplus(logits).sum(-1)  # (...)


@register("likelihood", "gaussian")
class GaussianLikelihood(Likelihood):
    """Gaussian N(x; mu(z), sigma^2) per value.

    Args:
        variance: "fixed" (sigma given), "learned" (one learned sigma for all values), or
            "decoder" (the decoder outputs a log-sigma per value).
        sigma: the fixed sigma, or the initial learned one.
        min_log_sigma: floor of log sigma for the learned variants.
        shape: with ``variance="fixed"``, the data shape to keep one fixed sigma per value (all
            ``sigma`` at first; :meth:`set_sigma` refits them after training, as the anomaly
            detector does); None keeps one sigma for all values.
    """

    def __init__(
        self,
        variance: str = "fixed",
        sigma: float = 1.0,
        min_log_sigma: float = -7.0,
        shape: Sequence[int] | None = None,
    ):
        super().__init__()
        valid = ("fixed", "learned", "decoder")
        if variance not in valid:
            raise ValueError(f"unknown Gaussian variance mode {variance!r}; valid: {list(valid)}")
        if shape is not None and variance != "fixed":
            raise ValueError(f"a per-value sigma shape needs variance='fixed', got variance={variance!r}")
        self.variance = variance
        self.min_log_sigma = float(min_log_sigma)
        self.param_channels = 2 if variance == "decoder" else 1
        log_sigma = torch.full([int(s) for s in shape] if shape is not None else [], math.log(sigma))
        if variance == "learned":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    @torch.no_grad()
    def set_sigma(self, sigma: Tensor) -> None:
        """Replace the fixed sigma(s) by ``sigma`` (positive; the buffer's shape, or a scalar to broadcast)."""
        if self.variance != "fixed":
            raise ValueError(f"set_sigma needs variance='fixed'; this likelihood has variance={self.variance!r}")
        sigma = torch.as_tensor(sigma, dtype=self.log_sigma.dtype, device=self.log_sigma.device)
        if not bool((sigma > 0).all()) or not bool(torch.isfinite(sigma).all()):
            raise ValueError("sigma must be positive and finite")
        self.log_sigma.copy_(sigma.log().expand_as(self.log_sigma))

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:
        if self.variance == "decoder":
            mu, log_sigma = self.split(params, data_ndim)
        else:
            mu, log_sigma = params, self.log_sigma  # () or (*data_shape): broadcasts over the batch
        scale = log_sigma.clamp_min(self.min_log_sigma).exp().expand_as(mu)
        return Independent(Normal(mu, scale, validate_args=False), data_ndim)  # Independent validates nothing


class _DiscreteImage(Distribution):
    """Shared helpers for distributions over values on a grid of ``levels`` in [0, 1]."""

    arg_constraints: dict = {}

    def __init__(self, data_ndim: int, batch_shape: torch.Size, levels: int):
        self.data_ndim = data_ndim
        self.levels = levels
        super().__init__(batch_shape=batch_shape)  # nothing to validate: arg_constraints is empty

    def to_index(self, x: Tensor) -> Tensor:
        if x.is_floating_point():
            return torch.round(x * (self.levels - 1)).long().clamp_(0, self.levels - 1)
        return x.long()

    def reduce(self, per_value: Tensor) -> Tensor:
        return per_value.flatten(per_value.dim() - self.data_ndim).sum(-1)


class CategoricalImage(_DiscreteImage):
    """Independent categoricals over ``levels`` values per element.

    Float inputs in [0, 1] are mapped to the nearest of the ``levels`` grid points; integer
    inputs are used as class indices (tokens). Elements equal to ``ignore_index`` (integer
    inputs only) add nothing to log_prob: a padding mask for sequences.
    """

    def __init__(self, logits: Tensor, data_ndim: int, ignore_index: int | None = None, as_index: bool = False):
        self.logits = logits  # (..., *data, K)
        self.ignore_index = ignore_index
        self.as_index = as_index
        super().__init__(data_ndim, logits.shape[: logits.dim() - 1 - data_ndim], logits.shape[-1])

    def log_prob(self, x: Tensor) -> Tensor:
        index = self.to_index(x)
        mask = None
        if self.ignore_index is not None and not x.is_floating_point():
            mask = index != self.ignore_index
            index = index.where(mask, torch.zeros_like(index))
        logp = torch.log_softmax(self.logits, -1)
        index = index.expand(logp.shape[:-1])
        picked = logp.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        if mask is not None:
            picked = picked * mask.expand_as(picked)
        return self.reduce(picked)

    @property
    def mean(self) -> Tensor:
        probs = torch.softmax(self.logits, -1)
        if self.as_index:
            return probs.argmax(-1)
        grid = torch.linspace(0, 1, self.levels, device=probs.device, dtype=probs.dtype)
        return (probs * grid).sum(-1)

    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        dist = Categorical(logits=self.logits, validate_args=False)  # pragma: no mutate (equivalent: logits are real)
        index = dist.sample(sample_shape)
        return index if self.as_index else index.float() / (self.levels - 1)


@register("likelihood", "categorical")
class CategoricalLikelihood(Likelihood):
    """A categorical over ``levels`` values per element (e.g. 17 or 256 grey levels, or tokens).

    Args:
        levels: number of categories per element.
        ignore_index: for integer (token) data, the padding value that is masked out.
        as_index: return class indices (tokens) rather than values in [0, 1] from mean/sample.
    """

    def __init__(self, levels: int = 256, ignore_index: int | None = None, as_index: bool = False):
        super().__init__()
        if levels < 2:
            raise ValueError(f"a categorical likelihood needs at least 2 levels, got {levels}")
        self.levels = int(levels)
        self.discrete_levels = self.levels
        self.param_channels = self.levels
        self.ignore_index = ignore_index
        self.as_index = bool(as_index)

    def check_data(self, x: Tensor) -> None:
        if x.is_floating_point() and x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("a categorical likelihood needs float data in [0, 1] (or integer class indices)")

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:
        logits = self.split(params, data_ndim).movedim(0, -1)  # (B, C, ..., K)
        return CategoricalImage(logits, data_ndim, self.ignore_index, self.as_index)


class DiscretizedLogistic(_DiscreteImage):
    """A logistic distribution integrated over bins of width 2/(levels-1) on [-1, 1], with
    the edge bins taking the tails (Salimans et al. 2017, one component)."""

    def __init__(self, loc: Tensor, log_scale: Tensor, data_ndim: int, levels: int):
        self.loc, self.log_scale = loc, log_scale
        super().__init__(data_ndim, loc.shape[: loc.dim() - data_ndim], levels)

    def log_prob(self, x: Tensor) -> Tensor:
        index = self.to_index(x)
        x = index.to(self.loc.dtype) / (self.levels - 1) * 2 - 1  # bin centres in [-1, 1]
        half = 1.0 / (self.levels - 1)
        inv_s = torch.exp(-self.log_scale)
        centred = x - self.loc
        cdf_plus = torch.sigmoid(inv_s * (centred + half))
        cdf_minus = torch.sigmoid(inv_s * (centred - half))
        log_cdf_plus = F.logsigmoid(inv_s * (centred + half))  # for the lowest bin
        log_one_minus_cdf_minus = -F.softplus(inv_s * (centred - half))  # for the highest bin
        mid = inv_s * centred
        # In the middle of a narrow bin use the density times the width (stable when the bin mass underflows).
        log_pdf_mid = mid - self.log_scale - 2.0 * F.softplus(mid) + math.log(2 * half)
        mass = cdf_plus - cdf_minus
        log_mass = torch.where(mass > 1e-5, torch.log(mass.clamp_min(1e-12)), log_pdf_mid)
        top = index == self.levels - 1
        logp = torch.where(index == 0, log_cdf_plus, torch.where(top, log_one_minus_cdf_minus, log_mass))
        return self.reduce(logp)

    @property
    def mean(self) -> Tensor:
        return ((self.loc.clamp(-1, 1) + 1) / 2).clamp(0, 1)

    def sample(self, sample_shape: tuple[int, ...] = ()) -> Tensor:
        shape = torch.Size(sample_shape) + self.loc.shape
        u = self.loc.new_empty(shape).uniform_()  # u = 0 gives -inf: the lowest bin, as it should
        x = self.loc + self.log_scale.exp() * (torch.log(u) - torch.log1p(-u))
        x = ((x.clamp(-1, 1) + 1) / 2 * (self.levels - 1)).round()
        return x / (self.levels - 1)


@register("likelihood", "discretized_logistic")
class DiscretizedLogisticLikelihood(Likelihood):
    """Discretized logistic for 8-bit (or ``levels``-level) images given as floats in [0, 1].

    Args:
        levels: number of intensity levels (256 for 8-bit data).
        min_log_scale: floor of the log scale.
    """

    def __init__(self, levels: int = 256, min_log_scale: float = -7.0):
        super().__init__()
        self.levels = int(levels)
        self.discrete_levels = self.levels
        self.min_log_scale = float(min_log_scale)
        self.param_channels = 2

    def check_data(self, x: Tensor) -> None:
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError("a discretized logistic likelihood needs data in [0, 1]")

    def forward(self, params: Tensor, data_ndim: int) -> Distribution:
        loc, log_scale = self.split(params, data_ndim)
        return DiscretizedLogistic(loc, log_scale.clamp_min(self.min_log_scale), data_ndim, self.levels)
