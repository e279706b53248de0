"""Input validation shared by every model: one place that names what is wrong with a batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from vaekit.distributions.likelihoods import Likelihood

INTEGER_DTYPES = (torch.int64, torch.int32, torch.uint8)


def check_data_batch(x: object, data_shape: Sequence[int], likelihood: Likelihood, allow_integer: bool) -> None:
    """Raise ValueError naming the problem if ``x`` is not a batch of ``data_shape`` examples in the
    likelihood's support.

    Args:
        x: the batch, (B, *data_shape).
        data_shape: shape of one example.
        likelihood: the model's likelihood (it checks the value range).
        allow_integer: accept integer tensors (levels or tokens) for a discrete likelihood.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"input must be a torch.Tensor, got {type(x).__name__}")
    shape = tuple(int(s) for s in data_shape)
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"input has shape {tuple(x.shape)}; this model expects (batch, {', '.join(map(str, shape))})")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError("input contains NaN or infinite values")
    elif not (allow_integer and x.dtype in INTEGER_DTYPES and likelihood.discrete_levels):
        raise ValueError(f"input has dtype {x.dtype}; this model expects a floating-point tensor")
    likelihood.check_data(x)
