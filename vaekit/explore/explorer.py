"""What the explorer computes, without any web code: the map, the slider dimensions, decoding,
interpolation, samples, and (for anomaly detectors) scores and heat maps.

Everything here takes already-loaded tensors; :mod:`vaekit.explore.sources` opens run folders and
detectors. Requests reach these methods with plain numbers only (indices, latents, settings).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.explore.views import View
from vaekit.generate import interpolate_latents
from vaekit.models.output import SamplingUnavailableError


class ExploreError(ValueError):
    """A request the explorer cannot serve (bad index, class, or a model that cannot do it)."""


@dataclass
class Projection:
    """The 2-D map of latents: ``point = (z - mean) @ axes.T``; a map point maps back as ``mean + point @ axes``.

    Attributes:
        mean: (D,) centre of the latent means.
        axes: (2, D) orthonormal directions (the first two principal components, or the identity for D <= 2).
        names: the axis names ("PC1", "PC2" or "z0", "z1").
    """

    mean: Tensor
    axes: Tensor
    names: tuple[str, str]

    @classmethod
    def fit(cls, means: Tensor) -> Projection:
        """PCA of (N, D) latent means (plain SVD of the centred means: 2 components of a small matrix)."""
        d = means.shape[1]
        if d <= 2:
            axes = torch.eye(2, d)  # a 1-D latent maps to the horizontal axis only
            return cls(torch.zeros(d), axes, ("z0", "z1" if d == 2 else "—"))
        mean = means.mean(0)
        # The right singular vectors of the centred data are the principal directions, largest first.
        _, _, vh = torch.linalg.svd((means - mean).double(), full_matrices=False)
        axes = vh[:2].float()
        # Fix each direction's sign (largest entry positive) so the map does not flip between runs.
        signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))
        return cls(mean, axes * signs, ("PC1", "PC2"))

    def __call__(self, z: Tensor) -> Tensor:
        """(N, D) latents -> (N, 2) map points."""
        return (z - self.mean) @ self.axes.T

    def inverse(self, points: Tensor) -> Tensor:
        """(N, 2) map points -> (N, D) latents on the map's plane."""
        return self.mean + points @ self.axes


class Explorer:
    """A model and a set of examples to explore, with the view that shows them.

    Args:
        model: any vaekit model (``encode``, ``decode``, ``sample``, ``latent_dim``, ``data_shape``).
        x: the examples as model input, (N, *data_shape).
        view: how examples are shown.
        labels: (N,) integer labels to colour the map by (also the condition of a class-conditional model).
        class_names: names of the labels.
        sliders: how many latent dimensions get a slider.
        detector: a fitted :class:`vaekit.anomaly.VAEDetector` whose scores and heat maps to show.
        raw: the examples as the detector takes them (required with ``detector``).
        title: shown in the page header.
    """

    MAX_SAMPLES = 64
    MAX_STEPS = 24

    def __init__(
        self,
        model: nn.Module,
        x: Tensor,
        view: View,
        labels: Tensor | None = None,
        class_names: list[str] | None = None,
        sliders: int = 8,
        detector: Any = None,
        raw: Any = None,
        title: str = "",
    ):
        if len(x) == 0:
            raise ExploreError("there are no examples to explore")
        self.model = model.eval()
        self.x = x
        self.view = view
        self.labels = None if labels is None else torch.as_tensor(labels).long()
        self.class_names = class_names
        self.detector = detector
        self.raw = raw
        self.title = title
        self.lock = threading.Lock()  # requests run in a thread pool; one model call at a time
        conditioner = getattr(model, "conditioner", None)
        self.n_classes: int | None = getattr(conditioner, "n_classes", None) if conditioner is not None else None
        if conditioner is not None and self.n_classes is None:
            raise ExploreError("models conditioned on attribute vectors are not supported by the explorer yet")
        if self.n_classes is not None and self.labels is None:
            raise ExploreError("this is a class-conditional model but the examples have no labels")
        self.is_vq = hasattr(model, "encode_indices")
        # A VQ-VAE's labels condition only its prior; its encoder and decoder take none.
        self.condition = self.labels if self.n_classes is not None and not self.is_vq else None
        self.means = self._encode_all()
        self.projection = Projection.fit(self.means)
        self.points = self.projection(self.means)
        self.dims, self.ranking = self._rank_dims(sliders)
        self.scores: np.ndarray | None = None
        if detector is not None:
            self.scores = np.asarray(detector.decision_function(raw), dtype=np.float64)

    # ------------------------------------------------------------ building
    @torch.no_grad()
    def _encode_all(self, batch_size: int = 1000) -> Tensor:
        means = []
        for start in range(0, len(self.x), batch_size):
            y = None if self.condition is None else self.condition[start : start + batch_size]
            means.append(self.model.encode(self.x[start : start + batch_size], y).mean.float())
        return torch.cat(means)

    @torch.no_grad()
    def _rank_dims(self, count: int, limit: int = 2000) -> tuple[list[int], str]:
        """The ``count`` most active dimensions: by mean KL(q(z_d|x) || p(z_d)) where it factorizes per
        dimension, else by the variance of the posterior means (Burda et al.'s activity)."""
        score, ranking = None, "variance of the posterior means"
        if not self.is_vq:
            from vaekit.distributions.kl import kl_terms

            try:
                y = None if self.condition is None else self.condition[:limit]
                q = self.model.encode(self.x[:limit], y)
                per_dim = kl_terms(q, self.model.prior()).per_dim
                if per_dim is not None:
                    score, ranking = per_dim.mean(0), "KL per dimension"
            except (NotImplementedError, TypeError, ValueError, AttributeError):
                score = None
        if score is None:
            score = self.means.var(0) if len(self.means) > 1 else torch.zeros(self.means.shape[1])
        order = torch.argsort(score, descending=True)[: min(count, self.means.shape[1])].tolist()
        self.dim_scores = score
        return order, ranking

    # ---------------------------------------------------------------- info
    def info(self) -> dict[str, Any]:
        """Everything the page needs to lay itself out."""
        low = torch.quantile(self.means, 0.005, dim=0) if len(self.means) > 1 else self.means[0] - 3
        high = torch.quantile(self.means, 0.995, dim=0) if len(self.means) > 1 else self.means[0] + 3
        pad = 0.25 * (high - low) + 1e-3
        low, high = low - pad, high + pad
        if not self.is_vq:  # a Gaussian prior's typical range too, so sliders reach beyond the data
            low, high = low.clamp(max=-3.0), high.clamp(min=3.0)
        sliders = [
            {
                "dim": d,
                "low": float(low[d]),
                "high": float(high[d]),
                "score": float(self.dim_scores[d]),
            }
            for d in self.dims
        ]
        can_sample, why = self._can_sample()
        return {
            "title": self.title,
            "model": type(self.model).__name__,
            "latent_dim": int(self.means.shape[1]),
            "examples": len(self.x),
            "view": self.view.describe(),
            "script": self.view.script,
            "classes": self._class_list(),
            "conditional": self.n_classes is not None,
            "vq": self.is_vq,
            "sliders": sliders,
            "ranking": self.ranking,
            "can_sample": can_sample,
            "sample_note": why,
            "anomaly": self.scores is not None,
            "start": self.means.mean(0).tolist(),
            "limits": {"samples": self.MAX_SAMPLES, "steps": self.MAX_STEPS},
        }

    def _class_list(self) -> list[str] | None:
        n = self.n_classes
        if n is None and self.labels is not None:
            n = int(self.labels.max()) + 1
        if n is None:
            return None
        names = self.class_names or []
        return [names[i] if i < len(names) else str(i) for i in range(n)]

    def _can_sample(self) -> tuple[bool, str]:
        if self.is_vq:
            if getattr(self.model, "prior", None) is None:
                return False, "this VQ-VAE has no prior over its codes yet: train one with `vaekit train-prior RUN`"
            return True, "samples are drawn through the learned prior over the code grid"
        return True, "samples are drawn from the prior p(z)"

    def map(self) -> dict[str, Any]:
        """The 2-D map: one point per example, with its label (or anomaly score)."""
        # Rounded in float64: a float32 0.0332 is 0.03319999948 in JSON, three times the text for nothing.
        points = self.points.numpy().astype(np.float64)
        return {
            "x": np.round(points[:, 0], 4).tolist(),
            "y": np.round(points[:, 1], 4).tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "scores": None if self.scores is None else np.round(np.asarray(self.scores, np.float64), 4).tolist(),
            "axes": list(self.projection.names),
        }

    # ------------------------------------------------------------ decoding
    def _index(self, i: int) -> int:
        if not 0 <= i < len(self.x):
            raise ExploreError(f"example {i} is out of range 0..{len(self.x) - 1}")
        return i

    def _class(self, label: int | None) -> Tensor:
        """The chosen class (0 if none was chosen) as a (1,) tensor, checked against the model's classes."""
        label = 0 if label is None else label
        if not 0 <= label < (self.n_classes or 0):
            raise ExploreError(f"class {label} is out of range 0..{(self.n_classes or 1) - 1}")
        return torch.tensor([label])

    def _label(self, label: int | None, fallback: int | None = None) -> Tensor | None:
        """The condition for decoding: the chosen class (or ``fallback``) for a CVAE, else None."""
        if self.condition is None:
            return None
        return self._class(fallback if label is None else label)

    def example(self, i: int) -> dict[str, Any]:
        """One example: its payload, label, latent mean and map point (and anomaly score)."""
        i = self._index(i)
        with self.lock:
            payload = self.view.render(self.x[i : i + 1])[0]
        result = {
            "index": i,
            "payload": payload,
            "label": None if self.labels is None else int(self.labels[i]),
            "z": self.means[i].tolist(),
            "point": self.points[i].tolist(),
        }
        if self.scores is not None:
            result["score"] = float(self.scores[i])
        return result

    def _decode(self, z: Tensor, y: Tensor | None) -> list[dict[str, Any]]:
        if y is not None and len(z) > 1:
            y = y.expand(len(z))
        with self.lock, torch.no_grad():
            return self.view.render(self.view.decode(self.model, z, y))

    def decode(self, z: list[float], label: int | None = None) -> dict[str, Any]:
        """Decode one latent vector."""
        if len(z) != self.means.shape[1]:
            raise ExploreError(f"a latent has {self.means.shape[1]} values, got {len(z)}")
        latent = torch.tensor([z], dtype=torch.float32)
        return {"payload": self._decode(latent, self._label(label))[0], "z": latent[0].tolist()}

    def decode_point(self, x: float, y: float, label: int | None = None) -> dict[str, Any]:
        """Decode the latent under a map point (on the plane of the map, the other directions at the mean)."""
        z = self.projection.inverse(torch.tensor([[x, y]], dtype=torch.float32))
        result = self.decode(z[0].tolist(), label)
        result["point"] = [x, y]
        return result

    def interpolate(
        self, a: int, b: int, steps: int = 8, method: str = "lerp", label: int | None = None
    ) -> dict[str, Any]:
        """Decoded latents from example ``a``'s mean to example ``b``'s (a CVAE decodes with ``label``, else a's)."""
        a, b = self._index(a), self._index(b)
        if not 2 <= steps <= self.MAX_STEPS:
            raise ExploreError(f"steps must be in 2..{self.MAX_STEPS}, got {steps}")
        try:
            z = interpolate_latents(self.means[a], self.means[b], steps, method)
        except ValueError as error:
            raise ExploreError(str(error)) from error
        fallback = None if self.labels is None else int(self.labels[a])
        return {"payloads": self._decode(z, self._label(label, fallback)), "a": a, "b": b, "method": method}

    def samples(self, n: int = 16, temperature: float = 1.0, label: int | None = None, seed: int = 0) -> dict:
        """``n`` samples through the model's prior (a VQ-VAE's learned code prior), decoded."""
        if not 1 <= n <= self.MAX_SAMPLES:
            raise ExploreError(f"n must be in 1..{self.MAX_SAMPLES}, got {n}")
        if not 0.0 < temperature <= 5.0:
            raise ExploreError(f"temperature must be in (0, 5], got {temperature}")
        y = None
        if self.n_classes is not None:
            y = self._class(label).expand(n)
        with self.lock, torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                x = self.model.sample(n, temperature=temperature, y=y)
            except SamplingUnavailableError as error:
                raise ExploreError(str(error)) from error
            payloads = self.view.render(x)
        return {"payloads": payloads, "temperature": temperature, "label": None if y is None else int(y[0])}

    # ------------------------------------------------------------- anomaly
    def _require_detector(self) -> np.ndarray:
        if self.scores is None:
            raise ExploreError("this explorer shows a model, not an anomaly detector")
        return self.scores

    def anomaly(self, bins: int = 40, top: int = 12) -> dict[str, Any]:
        """The score distribution (a histogram), the threshold and the most anomalous examples."""
        scores = self._require_detector()
        finite = scores[np.isfinite(scores)]
        # Scores spanning orders of magnitude get log-spaced bins; otherwise a few extreme scores would
        # squeeze the rest into one bin, so the bins stop at the 99th percentile and the rest is counted apart.
        low, p99, high = float(np.min(finite)), float(np.quantile(finite, 0.99)), float(np.max(finite))
        log = bool(low > 0 and high > 20 * low)
        top_edge = high if log or high - low <= 2 * (p99 - low) else p99
        edges = np.geomspace(low, top_edge, bins + 1) if log else np.linspace(low, top_edge, bins + 1)
        counts, edges = np.histogram(finite[finite <= top_edge], bins=edges)
        overflow = int((finite > top_edge).sum())
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf))[:top]
        with self.lock:
            payloads = self.view.render(self.x[torch.as_tensor(order.copy())])
        return {
            "counts": counts.tolist(),
            "edges": edges.tolist(),
            "overflow": overflow,
            "log": log,
            "threshold": float(self.detector.threshold_),
            "flagged": int((scores > self.detector.threshold_).sum()),
            "score": str(self.detector.score_),
            "top": [
                {"index": int(i), "score": float(scores[i]), "payload": p} for i, p in zip(order.tolist(), payloads)
            ],
        }

    def explain(self, i: int) -> dict[str, Any]:
        """The per-pixel or per-feature contributions to example ``i``'s anomaly score."""
        scores = self._require_detector()
        i = self._index(i)
        with self.lock:
            explanation = self.detector.explain(self.raw[i : i + 1])
            contributions = np.asarray(explanation.contributions[0], dtype=np.float64)
            if getattr(self.detector.preprocessor_, "channels_last", False):  # (H, W, C) -> the model's (C, H, W)
                contributions = np.moveaxis(contributions, -1, 0)
            payload = self.view.render_heat(self.x[i], contributions)
        return {"index": i, "score": float(scores[i]), "remainder": float(explanation.remainder[0]), "heat": payload}
