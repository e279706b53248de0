"""Generation in latent space: interpolation, traversal and attribute vectors."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _as_latent(model: nn.Module, a: Tensor, y: Tensor | None) -> Tensor:
    """Inputs of the model's data shape are encoded to their posterior means; latents pass through."""
    a = torch.as_tensor(a)
    if tuple(a.shape) == tuple(model.data_shape) or tuple(a.shape[1:]) == tuple(model.data_shape):
        x = a if tuple(a.shape[1:]) == tuple(model.data_shape) else a.unsqueeze(0)
        return model.encode(x.to(_device(model)), y).mean
    if a.shape[-1] != model.latent_dim:
        raise ValueError(
            f"expected an input of shape {tuple(model.data_shape)} or a latent of size {model.latent_dim}, "
            f"got shape {tuple(a.shape)}"
        )
    return a.reshape(-1, model.latent_dim).to(_device(model))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def prior_draws(model: nn.Module, n: int, seed: int = 0, spread: float = 1.0) -> Tensor:
    """``n`` latents (n, D) from the model's prior (its spread scaled by ``spread``) under ``seed``, leaving the
    global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.prior.sample(n, spread)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b at fractions t (falls back to lerp when parallel)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    spherical = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    linear = (1 - t) * a + t * b
    return torch.where(so.abs() < 1e-6, linear, spherical)


@torch.no_grad()
def interpolate_latents(a: Tensor, b: Tensor, steps: int = 8, method: str = "lerp") -> Tensor:
    """``steps`` latents from a to b inclusive, (steps, D); method "lerp" or "slerp"."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps, device=a.device)
    a, b = a.reshape(1, -1).expand(steps, -1), b.reshape(1, -1).expand(steps, -1)
    if method == "lerp":
        return (1 - t[:, None]) * a + t[:, None] * b
    if method == "slerp":
        return slerp(a, b, t)
    raise ValueError(f"unknown interpolation method {method!r}; valid: ['lerp', 'slerp']")


@torch.no_grad()
def interpolate(
    model: nn.Module, a: Tensor, b: Tensor, steps: int = 8, method: str = "lerp", y: Tensor | None = None
) -> Tensor:
    """Decoded interpolation between two inputs (encoded to their means) or two latents: (steps, *data_shape)."""
    za, zb = _as_latent(model, a, y), _as_latent(model, b, y)
    z = interpolate_latents(za[0], zb[0], steps, method)
    yy = (
        None
        if y is None
        else torch.as_tensor(y)
        .reshape(1, *torch.as_tensor(y).shape[-1:] if torch.as_tensor(y).is_floating_point() else ())
        .expand(steps, *(() if not torch.as_tensor(y).is_floating_point() else (-1,)))
    )
    return model.decode(z, yy).mean


@torch.no_grad()
def traverse(
    model: nn.Module,
    start: Tensor,
    dims: int | list[int],
    values: Tensor | list[float] | None = None,
    y: Tensor | None = None,
) -> Tensor:
    """Vary latent dimension(s) over ``values`` (default -3..3 in 7 steps), others held at ``start``.

    Args:
        start: an input (encoded to its mean) or a latent vector.
        dims: one dimension or a list of them (one row per dimension).

    Returns:
        (len(dims), len(values), *data_shape) decoded means.
    """
    z0 = _as_latent(model, start, y)[0]
    dims = [dims] if isinstance(dims, int) else list(dims)
    for d in dims:
        if not 0 <= d < model.latent_dim:
            raise ValueError(f"latent dimension {d} is out of range 0..{model.latent_dim - 1}")
    values = torch.linspace(-3, 3, 7) if values is None else torch.as_tensor(values, dtype=torch.float32)
    values = values.to(z0.device)
    z = z0.repeat(len(dims), len(values), 1)  # (R, V, D)
    for row, d in enumerate(dims):
        z[row, :, d] = values
    yy = None
    if y is not None:
        yt = torch.as_tensor(y, device=z0.device)
        yy = yt.reshape(1, 1, *yt.shape[-1:] if yt.is_floating_point() else ()).expand(
            len(dims), len(values), *((-1,) if yt.is_floating_point() else ())
        )
    return model.decode(z, yy).mean


@torch.no_grad()
def attribute_vector(model: nn.Module, x: Tensor, has_attribute: Tensor, y: Tensor | None = None) -> Tensor:
    """Mean latent of examples with an attribute minus the mean of those without: (D,).

    Args:
        x: examples, (N, *data_shape).
        has_attribute: (N,) booleans.
    """
    mask = torch.as_tensor(has_attribute, dtype=torch.bool)
    if mask.shape != (x.shape[0],):
        raise ValueError(f"has_attribute must have shape ({x.shape[0]},), got {tuple(mask.shape)}")
    if mask.all() or not mask.any():
        raise ValueError("an attribute vector needs examples both with and without the attribute")
    mu = model.encode(x.to(_device(model)), y).mean
    mask = mask.to(mu.device)
    return mu[mask].mean(0) - mu[~mask].mean(0)


@torch.no_grad()
def apply_attribute(
    model: nn.Module, x: Tensor, vector: Tensor, strength: float | list[float] = 1.0, y: Tensor | None = None
) -> Tensor:
    """Add ``strength`` times an attribute vector to each input's latent mean and decode.

    Returns (B, *data_shape) for one strength, or (S, B, *data_shape) for a list of strengths.
    """
    mu = model.encode(x.to(_device(model)), y).mean
    vector = vector.to(mu.device)
    if isinstance(strength, (list, tuple)):
        z = mu[None] + torch.as_tensor(strength, device=mu.device, dtype=mu.dtype)[:, None, None] * vector
        return model.decode(z, y).mean
    return model.decode(mu + strength * vector, y).mean
