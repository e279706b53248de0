"""Latent-space anomaly scores: how far an example's encoding lies from the training data's encodings.

A VAE's encoder maps the normal data onto a low-dimensional region of its latent space. An example
whose posterior mean lands far from every training encoding is unlike the normal data even when the
decoder, which generalizes smoothly, can still rebuild it (the weakness of reconstruction scores on
images of a related class). The score here is the mean Euclidean distance from the posterior mean
E_q[z|x] to its ``k`` nearest training posterior means: the kNN detector (ADBench's strongest simple
baseline), run in the space the VAE learned instead of on raw values.

:class:`RobustScale` then puts a score on a common scale (the median and spread of its values on the
training data), so that a likelihood score and a latent score can be added, as
``VAEDetector(score="elbo+latent")`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@torch.no_grad()
def posterior_means(model: nn.Module, x: Tensor, batch_size: int = 512) -> Tensor:
    """E_q[z|x] for every example of ``x`` (N, *data_shape): shape (N, latent_dim)."""
    model.eval()
    return torch.cat([model.encode(x[i : i + batch_size]).mean for i in range(0, len(x), batch_size)])


@torch.no_grad()
def knn_distance(
    queries: Tensor, reference: Tensor, k: int = 5, exclude_self: bool = False, batch_size: int = 1024
) -> Tensor:
    """Mean Euclidean distance from each query (M, L) to its ``k`` nearest rows of ``reference`` (N, L).

    Args:
        queries: the encodings to score.
        reference: the training encodings.
        k: neighbours averaged (at most N, or N - 1 with ``exclude_self``).
        exclude_self: ``queries`` is ``reference`` itself; each row's distance to itself is left out
            (leave-one-out scores of the training data).
        batch_size: query rows per distance matrix, which bounds memory at batch_size x N.

    Returns:
        (M,) distances, in float64.
    """
    available = len(reference) - int(exclude_self)
    if available < 1:
        raise ValueError("the latent kNN score needs at least 2 training examples")
    k = min(k, available)
    reference = reference.double()
    out = []
    for start in range(0, len(queries), batch_size):
        block = queries[start : start + batch_size].double()
        distances = torch.cdist(block, reference)  # (b, N)
        if exclude_self:
            rows = torch.arange(len(block))
            distances[rows, rows + start] = float("inf")
        out.append(distances.topk(k, dim=1, largest=False).values.mean(1))  # (b,)
    return torch.cat(out)


@dataclass
class RobustScale:
    """A score's centre and spread on the training data: ``(s - center) / scale`` puts scores on one scale.

    Attributes:
        center: the median of the training scores.
        scale: their interquartile range / 1.349 (the standard deviation for normal data), robust to
            the anomalies a contaminated training set holds; the standard deviation if that is zero.
    """

    center: float
    scale: float

    @classmethod
    def fit(cls, scores: Tensor) -> RobustScale:
        """Centre and spread of training scores (N,)."""
        scores = scores.double()
        q1, median, q3 = torch.quantile(scores, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).tolist()
        scale = (q3 - q1) / 1.349
        if not scale > 1e-12:
            scale = float(scores.std()) if len(scores) > 1 else 0.0
        return cls(float(median), max(scale, 1e-12))

    def __call__(self, scores: Tensor) -> Tensor:
        return (scores.double() - self.center) / self.scale
