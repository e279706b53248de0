"""The semi-supervised bound of M2 (Kingma et al. 2014) as a plain function of the model's output and the batch.

For a labelled example (x, y), with the single-sample (reparameterized) estimate of the expectation:

    -L(x, y) = E_q(z|x,y)[log p(x|y, z)] + log p(y) - KL(q(z|x, y) || p(z))

For an unlabelled x the class is marginalised under the classifier:

    -U(x) = sum_y q(y|x) (-L(x, y)) + H(q(y|x))

and the loss adds alpha times the classifier's cross-entropy on the labelled examples:

    J = mean over the batch of [L(x, y) for labelled, U(x) for unlabelled] + alpha * mean_labelled[-log q(y|x)]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vaekit.data.labels import UNLABELLED
from vaekit.distributions.kl import kl_terms
from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective, split_batch
from vaekit.registry import register


def m2_class_bounds(output: Any, x: Tensor) -> Tensor:
    """-L(x, y) for every class y and example: (K, B) (``output`` is an ``M2Output``)."""
    log_px = output.p_x.log_prob(x)  # (K, B): x broadcasts against the (K, B) batch
    kl = kl_terms(output.q_z, output.p_z, output.z).total  # (K, B)
    return log_px - kl + output.log_p_y[:, None]


def m2_loss(output: Any, x: Tensor, y: Tensor, alpha: float = 1.0) -> LossOutput:
    """The M2 objective J of a batch whose missing labels are :data:`~vaekit.data.labels.UNLABELLED`.

    Args:
        output: ``model.enumerate_classes(x)`` (an ``M2Output``): every class's bound terms and q(y|x).
        x: the batch, (B, ...).
        y: (B,) labels, -1 where missing.
        alpha: weight of the classification term (Kingma et al.'s alpha, per labelled example).

    Returns:
        ``LossOutput`` with terms ``bound`` (mean of -L or -U, a lower bound on log p(x, y) or log p(x)),
        ``labelled_bound``/``unlabelled_bound`` (means over each kind, 0 when a batch has none),
        ``classification`` (cross-entropy on labelled examples), ``accuracy`` (of q(y|x) on them) and
        ``labelled`` (the batch's share of labelled examples).
    """
    bounds = m2_class_bounds(output, x)  # (K, B)
    labelled = y != UNLABELLED  # (B,)
    safe_y = torch.where(labelled, y, torch.zeros_like(y)).long()
    log_q_y = output.q_y.logits  # (B, K): a Categorical's logits are normalized log-probabilities
    q_y = log_q_y.exp()
    bound_l = bounds.gather(0, safe_y[None])[0]  # (B,): -L(x, y) at the observed class
    bound_u = (q_y * (bounds.T - log_q_y)).sum(1)  # (B,): -U(x) = sum_y q(y|x) (-L(x, y)) + H(q(y|x))
    bound = torch.where(labelled, bound_l, bound_u)
    n_l = labelled.sum()
    denominator_l = n_l.clamp_min(1)  # a batch without labels has no classification term, not a NaN
    cross_entropy = -(log_q_y.gather(1, safe_y[:, None])[:, 0] * labelled).sum() / denominator_l
    loss = -bound.mean() + alpha * cross_entropy
    correct = ((log_q_y.argmax(1) == y) & labelled).sum()
    n_u = (~labelled).sum()
    terms = {
        "loss": loss.detach(),
        "bound": bound.mean().detach(),
        "labelled_bound": ((bound * labelled).sum() / denominator_l).detach(),
        "unlabelled_bound": ((bound * ~labelled).sum() / n_u.clamp_min(1)).detach(),
        "classification": cross_entropy.detach(),
        "accuracy": (correct / denominator_l).detach().float(),
        "labelled": (n_l / y.shape[0]).detach().float(),
    }
    return LossOutput(loss, terms)


@register("objective", "m2")
class M2Objective(Objective):
    """The semi-supervised M2 objective (:func:`m2_loss`) for batches (x, y) with y = -1 where a label is missing.

    Args:
        alpha: weight of the classifier's cross-entropy on labelled examples.
    """

    def __init__(self, alpha: float = 1.0):
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        if y is None:
            message = "the M2 objective needs labels y (with -1 where a label is missing)"  # pragma: no mutate (text)
            raise ValueError(message)
        if not hasattr(model, "enumerate_classes"):
            message = f"the M2 objective needs an M2 model; got {type(model).__name__}"  # pragma: no mutate (text)
            raise ValueError(message)
        return m2_loss(model.enumerate_classes(x), x, y, self.alpha)
