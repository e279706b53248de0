"""KL(q(z|x) || p(z)): analytic through torch's KL registry where it exists, Monte Carlo otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution, Independent, Normal, kl_divergence


@dataclass
class KLTerms:
    """KL per example (``total``) and, where it is analytic and factorizes, per latent dimension."""

    total: Tensor  # (..., B)
    per_dim: Tensor | None  # (..., B, D) or None
    analytic: bool


def _diag_normal(d: Distribution) -> Normal | None:
    if isinstance(d, Independent) and isinstance(d.base_dist, Normal) and d.reinterpreted_batch_ndims == 1:
        return d.base_dist
    return None


def kl_terms(q: Distribution, p: Distribution, z: Tensor | None = None) -> KLTerms:
    """KL(q || p) per example.

    Two diagonal Gaussians use the closed form (per dimension, via torch's registry:
    for p = N(0, I) it is -0.5 * (1 + log sigma^2 - mu^2 - sigma^2)). Other pairs use the
    registry if it has an entry, and otherwise the single-sample Monte Carlo estimate
    log q(z) - log p(z) at the given reparameterized draw(s) ``z``, averaged over any
    leading sample dimensions beyond q's batch shape.

    Raises:
        ValueError: the pair has no analytic KL and no sample ``z`` was given.
    """
    qn, pn = _diag_normal(q), _diag_normal(p)
    if qn is not None and pn is not None:
        per_dim = kl_divergence(qn, pn)
        return KLTerms(per_dim.sum(-1), per_dim, True)
    try:
        return KLTerms(kl_divergence(q, p), None, True)
    except NotImplementedError:
        pass
    if z is None:
        raise ValueError(f"KL({type(q).__name__} || {type(p).__name__}) has no closed form; pass a sample z")
    mc = q.log_prob(z) - p.log_prob(z)  # (S, B) or (B,)
    extra = mc.dim() - len(q.batch_shape)
    if extra > 0:
        mc = mc.mean(dim=tuple(range(extra)))
    return KLTerms(mc, None, False)
