"""The ELBO plus a property-regression term: trains a :class:`~vaekit.models.PropertySequenceVAE`'s head jointly."""

from __future__ import annotations

from typing import Any

from torch import nn

from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import ELBOObjective, split_batch
from vaekit.registry import register


@register("objective", "property_elbo")
class PropertyELBO(ELBOObjective):
    """-ELBO + weight * mean squared error of the property head at the posterior draws z.

    The head is fitted at draws of q(z|x) (not only at its mean), as in Gómez-Bombarelli et al. (2018), so
    that its prediction holds in the neighbourhood a latent search moves through. A batch without properties
    (``y`` None) gives the plain ELBO.

    Args:
        weight: weight of the squared error (in units of the standardized properties).
        **elbo_arguments: those of the ``elbo`` objective (beta schedule, free bits, ...).
    """

    def __init__(self, weight: float = 1.0, **elbo_arguments: Any):
        super().__init__(**elbo_arguments)
        self.weight = float(weight)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(x, y, n_samples=self.samples, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        result = self.bound(out, x, step)
        if y is None:
            return result
        predicted = model.predict_properties(out.z)  # (B, P) or (S, B, P)
        error = (predicted - y.to(predicted.dtype)).pow(2).mean()
        result.loss = result.loss + self.weight * error
        result.terms["loss"] = result.loss.detach()
        result.terms["property_mse"] = error.detach()
        return result
