"""The ELBO of hierarchical VAEs with NVAE's stabilizers: KL warm-up, KL balancing across groups,
and spectral regularization. (NVAE's fourth stabilizer, skipping updates with outlier gradient norms,
belongs to the training loop: ``vaekit.train.fit(..., skip_grad_norm=...)``.)

The objective works with any model; the groups are those of the output's ``group_sizes`` (a
:class:`~vaekit.models.hierarchical.HierarchicalOutput`'s); a plain VAE counts as one group.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput, kl_per_group
from vaekit.objectives.objective import ELBOObjective, split_batch
from vaekit.objectives.schedules import Schedule, as_schedule
from vaekit.registry import register


def spectral_weights(model: nn.Module) -> list[tuple[str, Tensor]]:
    """The weights that spectral regularization acts on: every convolution and linear layer's."""
    return [
        (f"{name}.weight", module.weight)
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and module.weight.requires_grad
    ]


class SpectralPenalty:
    """Sum of the largest singular values of a model's weight matrices (a conv kernel is the
    matrix (out, in * k * k)), estimated by power iteration with vectors kept from step to step
    (Miyato et al. 2018), as NVAE's spectral regularization.

    Matrices of one shape are handled as one batch. The estimate sigma = u^T W v is
    differentiable in W (with u, v fixed), so adding ``weight * penalty`` to a loss lowers the
    largest singular values.

    Args:
        iterations: power iterations per call.
        initial_iterations: power iterations the first time a matrix is seen.
        seed: seed of the initial vectors.
    """

    def __init__(self, iterations: int = 1, initial_iterations: int = 10, seed: int = 0):
        self.iterations = int(iterations)
        self.initial_iterations = int(initial_iterations)
        self.generator = torch.Generator().manual_seed(seed)
        self.vectors: dict[tuple[tuple[str, ...], tuple[int, int]], tuple[Tensor, Tensor]] = {}

    def singular_values(self, model: nn.Module) -> Tensor:
        """Estimates of the largest singular value of every weight matrix of ``model``, in the order
        of :func:`spectral_weights`: (M,)."""
        by_shape: dict[tuple[int, int], list[tuple[int, str, Tensor]]] = {}
        weights = spectral_weights(model)
        for index, (name, weight) in enumerate(weights):
            matrix = weight.reshape(weight.shape[0], -1)
            by_shape.setdefault(tuple(matrix.shape), []).append((index, name, matrix))
        if not weights:
            return torch.zeros(0)
        order, sigmas = [], []
        for shape, items in by_shape.items():
            key = (tuple(name for _, name, _ in items), shape)
            w = torch.stack([m for _, _, m in items])  # (n, out, in)
            with torch.no_grad():
                if key in self.vectors:
                    u, v = self.vectors[key]
                    steps = self.iterations
                else:
                    u = torch.randn(w.shape[0], shape[0], generator=self.generator)
                    v = torch.randn(w.shape[0], shape[1], generator=self.generator)
                    steps = max(self.iterations, self.initial_iterations)
                u, v = u.to(w), v.to(w)
                for _ in range(steps):
                    # normalize() works along dim 1 by default: the vector of each of the n weights.
                    wu = torch.einsum("nij,ni->nj", w, u)  # pragma: no mutate (equivalent: einsum is case-blind)
                    v = nn.functional.normalize(wu, eps=1e-6)  # (n, in)
                    wv = torch.einsum("nij,nj->ni", w, v)  # pragma: no mutate (equivalent: einsum is case-blind)
                    u = nn.functional.normalize(wv, eps=1e-6)  # (n, out)
                self.vectors[key] = (u, v)
            sigma = torch.einsum("ni,nij,nj->n", u, w, v)  # pragma: no mutate (equivalent: einsum is case-blind)
            sigmas.append(sigma)  # (n,)
            order += [index for index, _, _ in items]
        result = torch.cat(sigmas)
        position = torch.tensor(order, device=result.device)  # pragma: no mutate (device: equivalent on CPU)
        return result[torch.argsort(position)]

    def __call__(self, model: nn.Module) -> Tensor:
        """The penalty: the sum of the estimated largest singular values (a scalar with gradient)."""
        return self.singular_values(model).sum()


@register("objective", "hierarchical_elbo")
class HierarchicalELBO(ELBOObjective):
    """Negative ELBO of a hierarchical VAE, with warm-up, KL balancing and spectral regularization.

    loss = E[-log p(x|z)] + beta * sum_l gamma_l KL_l + lambda * sum_W sigma_max(W)

    where KL_l = E_q[KL(q(z_l|x, z_<l) || p(z_l|z_<l))] is analytic in z_l given the drawn upper
    groups, gamma_l are the KL-balancing weights while ``beta < 1`` (all 1 afterwards, so the
    bound is the true ELBO), and sigma_max are the largest singular values of the model's
    convolution and linear weights. The ELBO part is :func:`~vaekit.objectives.elbo.elbo` (so
    free bits and capacity apply as to any model); this objective adds the warm-up's balancing,
    the spectral penalty and the per-group diagnostics.

    Args:
        beta: KL weight: a number or a schedule config; the KL warm-up is
            ``{"type": "linear", "start": 0.0001, "end": 1.0, "steps": N}``.
        kl_balance: use KL balancing while ``beta < 1``.
        spectral_weight: lambda (a number or a schedule config); 0 turns the penalty off.
        power_iterations: power iterations per step for the spectral estimates.
        active_threshold: a latent dimension counts as active in a batch if the variance of its
            posterior mean over the batch exceeds this (Burda et al. 2015).
        samples: draws of the latents per example.
        free_bits: floor in nats per latent dimension (or group), as in :func:`~vaekit.objectives.elbo.elbo`.
        free_bits_groups: number of equal groups for free bits (None: per dimension).
        capacity: None, a number, or a schedule config for the capacity form |KL - C|.
        capacity_weight: gamma of the capacity form.

    Logged terms: ``loss``, ``reconstruction``, ``kl``, ``elbo``, ``beta``, ``kl_group_<l>`` (top
    group 0), ``active_units`` (batch estimate), ``spectral`` (sum of singular values, when
    penalized). Outlier updates are skipped by the training loop (``fit(..., skip_grad_norm=...)``).
    """

    def __init__(
        self,
        beta: float | dict | Schedule = 1.0,
        kl_balance: bool = True,
        spectral_weight: float | dict | Schedule = 0.0,
        power_iterations: int = 1,
        active_threshold: float = 0.01,
        samples: int = 1,
        free_bits: float = 0.0,
        free_bits_groups: int | None = None,
        capacity: float | dict | Schedule | None = None,
        capacity_weight: float = 1000.0,
    ):
        super().__init__(beta, free_bits, free_bits_groups, capacity, capacity_weight, samples, kl_balance)
        self.spectral_weight = as_schedule(spectral_weight)
        self.spectral = SpectralPenalty(iterations=power_iterations)
        self.active_threshold = float(active_threshold)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(
            x,
            y,
            n_samples=self.samples,
            check=False,  # pragma: no mutate (validation only; the loop checked the batch)
        )
        result = self.bound(out, x, step, kl_balance=self.kl_balance and float(self.beta(step)) < 1.0)
        loss, terms = result.loss, result.terms
        vectors = dict(result.vectors)
        if "kl_per_dim" in vectors:
            group_means = kl_per_group(vectors["kl_per_dim"], out.group_sizes or (out.z.shape[-1],))  # (L,)
            for index, value in enumerate(group_means):
                terms[f"kl_group_{index}"] = value
            vectors["kl_per_group"] = group_means
        means = out.q_z.mean.detach().flatten(0, -2)  # (S*B, D)
        if means.shape[0] > 1:
            terms["active_units"] = (means.var(0) > self.active_threshold).sum().to(loss.dtype)
        weight = 0.0 if self.spectral_weight is None else float(self.spectral_weight(step))
        if weight > 0:
            spectral = self.spectral(model)
            loss = loss + weight * spectral
            terms["spectral"] = spectral.detach()
        terms["loss"] = loss.detach()
        return LossOutput(loss, terms, vectors)
