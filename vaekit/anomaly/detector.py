"""A scikit-learn compatible anomaly detector built on a vaekit VAE."""

# ruff: noqa: N803  (scikit-learn names the data argument X)

from __future__ import annotations

import inspect
import math
import numbers
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.base import BaseEstimator, OutlierMixin

from vaekit.anomaly.calibration import calibrate_value_variance, has_per_value_sigma
from vaekit.anomaly.defaults import ARCHITECTURES, INPUTS, LINEAR, TrainingPlan, default_plan
from vaekit.anomaly.explain import Explanation
from vaekit.anomaly.latent import RobustScale, knn_distance, posterior_means
from vaekit.anomaly.linear import fit_linear_vae
from vaekit.anomaly.normal_scores import NormalScores
from vaekit.anomaly.preprocessing import IMAGE, Preprocessor
from vaekit.anomaly.scores import SCORES, ScoreSettings, anomaly_scores, score_contributions
from vaekit.io import ModelFileError, atomic_write_bytes, load, load_extra, save_model
from vaekit.objectives import ELBOObjective
from vaekit.registry import build_model
from vaekit.train import fit as train_fit

EXTRA_KEY = "anomaly_detector"
MEMBER_PREFIX = "member-"  # sub-folders holding an ensemble's other VAEs
LATENT = "latent"  # the latent-space kNN score (vaekit.anomaly.latent); combines with the others by "+"
REFERENCE_FILE = "latent_reference.safetensors"  # the training encodings the latent score measures against
EPOCH_ROWS = 2048  # small training sets are tiled up to about this many rows per epoch
# Arguments of trained MLP VAEs only: a linear VAE fitted in closed form refuses them unless left at their defaults.
MLP_ONLY = ("hidden", "likelihood", "epochs", "batch_size", "lr", "lr_schedule", "beta", "n_models")


def score_parts(score: str) -> list[str]:
    """The terms of a score name: "elbo+latent" -> ["elbo", "latent"].

    Raises:
        ValueError: an unknown or repeated term.
    """
    parts = [p.strip() for p in score.split("+")]
    valid = [*SCORES, LATENT, "auto"]
    if any(p not in valid for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"unknown score {score!r}; valid: 'auto', one of {valid}, or several joined by '+'")
    return parts


class NotFittedError(ValueError, AttributeError):
    """The detector is used before ``fit`` (or ``load``)."""


class VAEDetector(OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detection with a variational autoencoder.

    ``fit`` fits VAEs to (mostly) normal data; an example's anomaly score is how badly the models
    explain it (see :mod:`vaekit.anomaly.scores`). On tables the default models are two linear-Gaussian
    VAEs fitted in closed form in milliseconds (:mod:`vaekit.anomaly.linear`), one on the standardized
    values and one on their per-column normal scores (:mod:`vaekit.anomaly.normal_scores`); on images,
    and with ``architecture="mlp"``, MLP VAEs trained with the one training loop.
    Works on tables (arrays or DataFrames, ``(N, D)``; standardized internally) and on images
    (``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``; uint8 or floats). Every argument left at
    ``None``/"auto" is chosen from the data (:func:`vaekit.anomaly.defaults.default_plan`).

    Args:
        architecture: "auto" ("linear" for tables, "mlp" for images), "linear" (linear-Gaussian VAEs
            fitted in closed form: ``hidden``, ``likelihood``, ``epochs``, ``batch_size``, ``lr``,
            ``lr_schedule``, ``beta`` and ``n_models`` apply only to "mlp" and must stay at their defaults)
            or "mlp" (MLP VAEs trained by gradient descent).
        inputs: "auto", "values" (the preprocessed data: standardized columns, [0, 1] pixels),
            "normal_scores" (each value's normal quantile of its rank in the training column), or
            "values+normal_scores": one VAE on each (with "mlp", member i sees the (i mod 2)-th), whose
            scores are put on one scale (their median and spread on the training data) and averaged.
            "auto": both for the linear tables default, "values" otherwise.
        score: "auto", "elbo" (negative ELBO), "reconstruction_nll" (the ELBO's expected
            negative log-likelihood term, without the KL), "nll" (importance-sampled negative
            log-likelihood), "reconstruction" (squared reconstruction error), "latent" (mean distance
            of the posterior mean to its ``n_neighbors`` nearest training encodings,
            :mod:`vaekit.anomaly.latent`), or several joined by "+" (e.g. "elbo+latent", or "auto+latent"
            for the data's default score plus the latent one): the sum of the terms, each first centred
            and scaled by its median and spread on the training data.
        contamination: expected fraction of anomalies; the threshold flags this fraction of the
            training data (or of the held-out part with ``validation_fraction``).
        validation_fraction: hold out this fraction of the training data, unseen by training,
            and set the threshold from its scores (an unbiased quantile).
        latent_dim: latent dimensions (None: from the data; for a linear VAE, one per value, and fewer keep
            the directions of largest variance, the others sharing one noise variance).
        hidden: MLP hidden widths (None: from the data).
        likelihood: "auto", a likelihood name, or ``{"type": name, **arguments}``.
        epochs: passes over the data (None: about a fixed number of gradient steps).
        batch_size: examples per step (None: from the data size).
        lr: Adam learning rate (None: from the data, see :func:`~vaekit.anomaly.defaults.default_plan`).
        lr_schedule: "constant", "cosine" or "step" (see :func:`vaekit.train.fit`).
        beta: weight of the KL term during training.
        n_samples: posterior draws per example for the "elbo" and "reconstruction_nll" scores.
        k: importance samples per example for the "nll" score.
        calibrate_variance: with a fixed-variance Gaussian likelihood (the image default), keep one
            sigma per value and refit it after training to the training residuals, so that errors
            count relative to how much each value varies in normal data
            (:mod:`vaekit.anomaly.calibration`).
        variance_floor: added to each calibrated variance, in the data's squared units.
        n_models: "auto" or how many MLP VAEs to train, from different initializations (seeds ``seed``,
            ``seed + 1``, ...); the score, and each explanation, is their mean. "auto": for MLP tables an
            ensemble of 5 for data sets of at most 500 examples, where single models vary most and train
            fast, otherwise 1; for linear VAEs one per input.
        n_neighbors: training encodings the "latent" score averages the distance to.
        seed: seed of the initialization, the training order and the scoring draws.

    Attributes (after ``fit``):
        architecture_: "linear" or "mlp".
        inputs_: per VAE, the input it sees ("values" or "normal_scores").
        normal_scores_: the fitted :class:`NormalScores` transform (None when no VAE uses it).
        member_scales_: per VAE, the :class:`~vaekit.anomaly.latent.RobustScale` of its score on the
            training data, when the VAEs see different inputs (empty otherwise: the raw scores are averaged).
        models_: the trained VAEs (one unless an ensemble).
        model_: the first of them.
        preprocessor_: the fitted :class:`Preprocessor`.
        score_: the score in use.
        encodings_: per VAE, the posterior means of the training data, (N, latent_dim) (None in a
            detector saved by an older vaekit, which then scores everything but "latent").
        score_scales_: per VAE, the :class:`~vaekit.anomaly.latent.RobustScale` of each term of a
            combined score (empty for a single-term score).
        threshold_: scores above it are predicted anomalous.
        decision_scores_: scores of the training data.
        histories_: the training loop's per-epoch terms, one per VAE (None for a closed-form linear VAE).
        history_: the first of them.
    """

    def __init__(
        self,
        architecture: str = "auto",
        inputs: str = "auto",
        score: str = "auto",
        contamination: float = 0.1,
        validation_fraction: float = 0.0,
        latent_dim: int | None = None,
        hidden: list[int] | tuple[int, ...] | None = None,
        likelihood: str | dict[str, Any] = "auto",
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        lr_schedule: str = "constant",
        beta: float = 1.0,
        n_samples: int = 16,
        k: int = 128,
        calibrate_variance: bool = True,
        variance_floor: float = 3e-3,
        n_models: int | str = "auto",
        n_neighbors: int = 5,
        seed: int = 0,
    ):
        self.architecture = architecture
        self.inputs = inputs
        self.score = score
        self.contamination = contamination
        self.validation_fraction = validation_fraction
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.likelihood = likelihood
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.beta = beta
        self.n_samples = n_samples
        self.k = k
        self.calibrate_variance = calibrate_variance
        self.variance_floor = variance_floor
        self.n_models = n_models
        self.n_neighbors = n_neighbors
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; valid: {list(ARCHITECTURES)}")
        _input_names(self.inputs)
        if self.score != "auto":
            score_parts(self.score)
        if not (isinstance(self.n_neighbors, numbers.Integral) and self.n_neighbors >= 1):
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        if not 0.0 < self.contamination < 0.5:
            raise ValueError(f"contamination must be in (0, 0.5), got {self.contamination}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not self.variance_floor > 0:
            raise ValueError(f"variance_floor must be positive, got {self.variance_floor}")
        if self.n_models != "auto" and not (isinstance(self.n_models, numbers.Integral) and self.n_models >= 1):
            raise ValueError(f"n_models must be 'auto' or a positive integer, got {self.n_models!r}")

    def _plan(self, kind: str, data_shape: list[int], n: int) -> TrainingPlan:
        plan = default_plan(kind, data_shape, n, self.architecture)
        if self.inputs != "auto":
            plan.inputs = _input_names(self.inputs)
            if plan.architecture == LINEAR:
                plan.n_models = len(plan.inputs)
        if plan.architecture == LINEAR:
            self._check_linear_params()
        if self.latent_dim is not None:
            plan.model["latent_dim"] = int(self.latent_dim)
        if self.hidden is not None:
            plan.model["hidden"] = [int(h) for h in self.hidden]
        if self.likelihood != "auto":
            plan.model["likelihood"] = self.likelihood
        if self.batch_size is not None:
            plan.batch_size = int(self.batch_size)
        if self.epochs is not None:
            plan.epochs = int(self.epochs)
        if self.score != "auto":  # "auto" inside a sum ("auto+latent") stands for the data's default score
            plan.score = "+".join(plan.score if p == "auto" else p for p in score_parts(self.score))
            score_parts(plan.score)  # e.g. "elbo+auto" on images: a repeated term
        if self.n_models != "auto":
            plan.n_models = int(self.n_models)
        if self.lr is not None:
            plan.lr = float(self.lr)
        if self.calibrate_variance and plan.architecture != LINEAR:
            plan.model["likelihood"] = _with_per_value_sigma(plan.model["likelihood"], data_shape)
        return plan

    def _check_linear_params(self) -> None:
        """The MLP-only arguments are at their defaults (a linear VAE is fitted in closed form)."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [name for name in MLP_ONLY if getattr(self, name) != defaults[name].default]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} only apply to architecture='mlp' (trained MLP VAEs); the linear VAEs are "
                "fitted in closed form. Pass architecture='mlp' (vaekit anomaly fit --architecture mlp) to train them."
            )

    def fit(self, X: Any, y: Any = None) -> VAEDetector:
        """Train on ``X`` (mostly normal examples) and set the threshold; ``y`` is ignored.

        Raises:
            ValueError: bad parameters, NaN/infinite values, or data of an unsupported shape.
        """
        self._check_params()
        prep = Preprocessor.fit(X)
        data = torch.from_numpy(prep.transform(X))
        train, held_out = data, None
        if self.validation_fraction > 0:
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed))
            n_val = max(1, int(round(self.validation_fraction * len(data))))
            if len(data) - n_val < 2:
                raise ValueError(f"validation_fraction {self.validation_fraction} leaves too few training examples")
            held_out, train = data[order[:n_val]], data[order[n_val:]]
        plan = self._plan(prep.kind, prep.data_shape, len(train))
        if prep.kind == IMAGE and _needs_unit_interval(plan.model["likelihood"]):
            train = train.clamp(0, 1)
        self.architecture_ = plan.architecture
        self.inputs_ = [plan.inputs[i % len(plan.inputs)] for i in range(plan.n_models)]
        self.normal_scores_ = NormalScores.fit(train) if "normal_scores" in self.inputs_ else None
        views = self._views(train)
        if plan.architecture == LINEAR:
            trained = [(fit_linear_vae(views[name], self.latent_dim), None) for name in self.inputs_]
        else:
            shape = prep.data_shape
            trained = [self._train_one(plan, shape, views[name], self.seed + i) for i, name in enumerate(self.inputs_)]
        self.models_ = [model for model, _ in trained]
        self.histories_ = [history for _, history in trained]
        self.preprocessor_ = prep
        self.score_ = plan.score
        self.n_features_in_ = int(np.prod(prep.raw_shape))
        self.encodings_ = [posterior_means(model, views[name]) for model, name in zip(self.models_, self.inputs_)]
        self.score_scales_ = [{} for _ in self.models_]
        self.member_scales_ = []
        parts = score_parts(self.score_)
        if len(parts) > 1:  # each term's centre and spread on the training data (leave-one-out for "latent")
            self.score_scales_ = [
                {p: RobustScale.fit(self._part(i, views[name], p, exclude_self=True)) for p in parts}
                for i, name in enumerate(self.inputs_)
            ]
        member_scores = self._member_scores(train, exclude_self=True, views=views)
        if len(set(self.inputs_)) > 1:  # VAEs of different inputs score in different units: one scale first
            self.member_scales_ = [RobustScale.fit(s) for s in member_scores]
        train_scores = self._combine(member_scores)
        if held_out is None:
            self.decision_scores_ = train_scores
            reference = train_scores
        else:
            reference = self._scores(held_out)
            self.decision_scores_ = np.empty(len(data))
            self.decision_scores_[order[n_val:].numpy()] = train_scores
            self.decision_scores_[order[:n_val].numpy()] = reference
        self.threshold_ = float(np.quantile(reference, 1.0 - self.contamination))
        return self

    def _train_one(self, plan: TrainingPlan, data_shape: list[int], train: torch.Tensor, seed: int) -> tuple:
        """One VAE trained (and its variances calibrated) with ``seed``: ``(model, history)``."""
        with torch.random.fork_rng(devices=[]):  # seeds the initialization and the reparameterization noise
            torch.manual_seed(seed)
            model = build_model({"type": "vae", **plan.model}, data_shape)
            # A small data set is tiled so that one epoch holds at least EPOCH_ROWS examples: the same
            # number of gradient steps in fewer epochs, without the loop's fixed cost per epoch (one-class
            # digits, 100 images, one VAE of 2,500 steps: 42 s as 1,250 epochs of 2 steps, 15 s tiled, timed
            # once on the shared CPU; the ROC AUC stayed within seed noise, 0.9922 and 0.9929).
            repeats = max(1, EPOCH_ROWS // len(train))
            steps = plan.epochs * math.ceil(len(train) / plan.batch_size)
            history = train_fit(
                model,
                ELBOObjective(beta=self.beta),
                train.repeat(repeats, *([1] * (train.dim() - 1))),
                epochs=math.ceil(steps / math.ceil(repeats * len(train) / plan.batch_size)),
                max_steps=steps,
                batch_size=plan.batch_size,
                lr=plan.lr,
                lr_schedule=self.lr_schedule,
                seed=seed,
                device="cpu",
                progress=False,
            )
        if self.calibrate_variance and has_per_value_sigma(model):
            calibrate_value_variance(model, train, floor=self.variance_floor, n_samples=self.n_samples, seed=seed)
        return model.eval(), history

    @property
    def model_(self) -> torch.nn.Module:
        """The (first) trained VAE."""
        self._check_fitted()
        return self.models_[0]

    @property
    def history_(self) -> Any:
        """The training history of the (first) VAE."""
        self._check_fitted()
        return self.histories_[0]

    def calibrate(self, X: Any, quantile: float | None = None) -> VAEDetector:
        """Set the threshold to a quantile of the scores of clean validation data ``X``.

        Args:
            X: normal examples not used for training.
            quantile: the quantile (default ``1 - contamination``): about ``1 - quantile`` of
                normal data will then be flagged.
        """
        q = 1.0 - self.contamination if quantile is None else float(quantile)
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {q}")
        self.threshold_ = float(np.quantile(self.decision_function(X), q))
        return self

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("this VAEDetector is not fitted yet: call fit(X) or VAEDetector.load(path) first")

    def _settings(self, score: str | None = None) -> ScoreSettings:
        # A linear VAE's encoder is its exact posterior: every draw gives the same ELBO and importance weight,
        # log p(x), so one draw is exact.
        samples, k = (1, 1) if self.architecture_ == LINEAR else (self.n_samples, self.k)
        return ScoreSettings(score=score or self.score_, n_samples=samples, k=k, seed=self.seed)

    def _view(self, name: str, data: torch.Tensor) -> torch.Tensor:
        """The input a VAE of input ``name`` sees for preprocessed ``data``."""
        return data if name == "values" else self.normal_scores_(data)

    def _input(self, X: Any) -> torch.Tensor:
        self._check_fitted()
        data = torch.from_numpy(self.preprocessor_.transform(X))
        if self.preprocessor_.kind == IMAGE and _needs_unit_interval(self._likelihood_spec()):
            data = data.clamp(0, 1)  # values outside the training range: the nearest valid value
        return data

    def _likelihood_spec(self) -> Any:
        return self.model_.likelihood.config()

    def _views(self, data: torch.Tensor) -> dict[str, torch.Tensor]:
        """Preprocessed ``data`` as each of the detector's inputs sees it, each computed once."""
        return {name: self._view(name, data) for name in dict.fromkeys(self.inputs_)}

    def _part(self, i: int, data: torch.Tensor, part: str, exclude_self: bool = False) -> torch.Tensor:
        """One term of the score under the i-th VAE, (N,) float64, for ``data`` as that VAE's input sees it
        (:meth:`_views`); ``exclude_self``: ``data`` is the training data, whose own encodings the latent
        distance leaves out."""
        model = self.models_[i]
        if part == LATENT:
            if self.encodings_ is None:
                raise ValueError("this detector was saved without training encodings: the latent score is unavailable")
            queries = posterior_means(model, data)
            return knn_distance(queries, self.encodings_[i], self.n_neighbors, exclude_self=exclude_self)
        return anomaly_scores(model, data, self._settings(part)).double()

    def _member_scores(
        self, data: torch.Tensor, score: str | None = None, exclude_self: bool = False, views: dict | None = None
    ) -> list:
        """Each VAE's score of ``data`` (a combined score: the sum of its scaled terms), (N,) float64 each;
        ``views``: ``data``'s views (:meth:`_views`), if already computed."""
        parts = score_parts(score or self.score_)
        if len(parts) > 1 and not all(p in scales for scales in self.score_scales_ for p in parts):
            raise ValueError(f"a combined score other than the detector's own ({self.score_!r}) has no scales")
        views = self._views(data) if views is None else views
        per_model = []
        for i, scales in enumerate(self.score_scales_):
            terms = [self._part(i, views[self.inputs_[i]], p, exclude_self) for p in parts]
            per_model.append(terms[0] if len(parts) == 1 else sum(scales[p](t) for p, t in zip(parts, terms)))
        return per_model

    def _scores(self, data: torch.Tensor, score: str | None = None, exclude_self: bool = False) -> np.ndarray:
        if self.member_scales_ and score is not None and score != self.score_:
            raise ValueError(f"VAEs of different inputs only give the detector's own score ({self.score_!r})")
        return self._combine(self._member_scores(data, score, exclude_self))

    def _combine(self, per_model: list) -> np.ndarray:
        """The detector's score from its VAEs' scores: their mean, each first scaled if they have scales."""
        if self.member_scales_:
            per_model = [scale(s) for scale, s in zip(self.member_scales_, per_model)]
        return torch.stack(per_model).mean(0).numpy()

    def decision_function(self, X: Any, score: str | None = None) -> np.ndarray:
        """Anomaly scores, shape (N,): higher = more anomalous.

        Args:
            X: examples shaped like the training data.
            score: another score than the detector's own (one of :data:`SCORES` or "latent"), for
                comparisons; the threshold only applies to the detector's own score.

        Raises:
            ValueError: a different number of features (or image size) than at fit time, NaN input, or
                another score than its own from a detector whose VAEs see different inputs (their scores
                are only put on one scale for the detector's own score).
        """
        return self._scores(self._input(X), score)

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality scores (scikit-learn's convention): higher = more normal; ``-decision_function``."""
        return -self.decision_function(X)

    def predict(self, X: Any) -> np.ndarray:
        """1 for examples scored above the threshold (anomalies), 0 otherwise."""
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on ``X`` and flag its anomalies (0/1)."""
        self.fit(X)
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

    def explain(self, X: Any) -> Explanation:
        """Per-value contributions to each example's score (see :func:`score_contributions`).

        A combined score splits as its terms do: each likelihood term's per-value parts, divided by
        that term's scale, are the contributions; the latent distance, the KL terms and the centring
        constants form the remainder, so contributions and remainder still add up to the score.
        """
        data = self._input(X)
        parts = score_parts(self.score_)
        if parts == [LATENT]:  # no single value owns a distance between encodings
            scores = self._scores(data)
            zeros = np.zeros((len(data), *self.preprocessor_.data_shape))
            prep = self.preprocessor_
            return Explanation(scores, prep.to_raw_layout(zeros), scores.copy(), prep.columns, prep.kind)
        views = self._views(data)
        per_model = []
        for i, (model, scales) in enumerate(zip(self.models_, self.score_scales_)):
            pieces = []
            member_scale = self.member_scales_[i].scale if self.member_scales_ else 1.0
            for p in parts:
                if p == LATENT:
                    continue
                values, rest = score_contributions(model, views[self.inputs_[i]], self._settings(p))
                divide = (scales[p].scale if len(parts) > 1 else 1.0) * member_scale
                pieces.append((values.double() / divide, rest.double() / divide))
            per_model.append((sum(v for v, _ in pieces), sum(r for _, r in pieces)))
        contributions = torch.stack([c for c, _ in per_model]).mean(0)
        remainder = torch.stack([r for _, r in per_model]).mean(0)
        scores = self._scores(data)
        if len(parts) > 1 or self.member_scales_:  # the latent term and the centring: what the values do not own
            remainder = torch.from_numpy(scores) - contributions.flatten(1).sum(1)
        maps = self.preprocessor_.to_raw_layout(contributions.numpy())
        prep = self.preprocessor_
        return Explanation(scores, maps, remainder.numpy(), prep.columns, prep.kind)

    # ---------------------------------------------------------------------- io
    def save(self, directory: str | Path) -> Path:
        """Save as a vaekit model folder (config.json + model.safetensors) with the preprocessing,
        threshold and score in the JSON; :meth:`load` restores it.

        An ensemble keeps its first VAE in the folder itself (so :func:`vaekit.load` reads it like
        any model) and the others in sub-folders ``member-1``, ``member-2``, ..., each a model folder.
        """
        self._check_fitted()
        directory = Path(directory)
        members = [f"{MEMBER_PREFIX}{i}" for i in range(1, len(self.models_))]
        for stale in directory.glob(f"{MEMBER_PREFIX}*"):  # from an earlier, larger ensemble saved here
            if stale.name not in members and (stale / "config.json").is_file():
                shutil.rmtree(stale)
        for name, model in zip(members, self.models_[1:]):
            save_model(model, directory / name)
        directory.mkdir(parents=True, exist_ok=True)
        encodings = {str(i): e.detach().float().contiguous() for i, e in enumerate(self.encodings_)}
        atomic_write_bytes(directory / REFERENCE_FILE, save_tensors(encodings, metadata={"format": EXTRA_KEY}))
        extra = {
            EXTRA_KEY: {
                "params": _jsonable(self.get_params()),
                "preprocessing": self.preprocessor_.to_dict(),
                "score": self.score_,
                "threshold": self.threshold_,
                "members": members,
                "score_scales": [{p: [c.center, c.scale] for p, c in scales.items()} for scales in self.score_scales_],
                "architecture": self.architecture_,
                "inputs": self.inputs_,
                "member_scales": [[c.center, c.scale] for c in self.member_scales_],
                "normal_scores": None if self.normal_scores_ is None else self.normal_scores_.to_dict(),
            }
        }
        return save_model(self.models_[0], directory, extra=extra)

    @classmethod
    def load(cls, directory: str | Path) -> VAEDetector:
        """Load a detector saved by :meth:`save`.

        Raises:
            ModelFileError: the folder is not a saved vaekit anomaly detector.
        """
        extra = load_extra(directory).get(EXTRA_KEY)
        if extra is None:
            raise ModelFileError(f"{directory} holds a vaekit model but not an anomaly detector (no {EXTRA_KEY!r})")
        detector = cls(**extra["params"])
        directory = Path(directory)
        members = extra.get("members", [])
        if not all(isinstance(m, str) and m.startswith(MEMBER_PREFIX) and "/" not in m for m in members):
            raise ModelFileError(f"{directory}: bad ensemble member names {members!r}")
        detector.models_ = [load(directory)] + [load(directory / m) for m in members]
        detector.preprocessor_ = Preprocessor.from_dict(extra["preprocessing"])
        detector.score_ = extra["score"]
        detector.threshold_ = float(extra["threshold"])
        reference = directory / REFERENCE_FILE
        try:
            if reference.is_file() or LATENT in score_parts(detector.score_):
                encodings = load_tensors(reference.read_bytes())
                detector.encodings_ = [encodings[str(i)] for i in range(len(detector.models_))]
            else:  # saved before the latent score existed: everything but that score still works
                detector.encodings_ = None
            scales = extra.get("score_scales", [{} for _ in detector.models_])
            detector.score_scales_ = [{p: RobustScale(*map(float, v)) for p, v in d.items()} for d in scales]
        except (OSError, KeyError, TypeError, ValueError, SafetensorError) as error:
            message = f"{directory}: missing or unreadable latent reference ({REFERENCE_FILE}): {error}"
            raise ModelFileError(message) from error
        # Saved before linear VAEs and normal scores existed: trained MLP VAEs on the values.
        detector.architecture_ = extra.get("architecture", "mlp")
        detector.inputs_ = extra.get("inputs", ["values"] * len(detector.models_))
        try:
            detector.member_scales_ = [RobustScale(*map(float, v)) for v in extra.get("member_scales", [])]
            normal = extra.get("normal_scores")
            detector.normal_scores_ = None if normal is None else NormalScores.from_dict(normal)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{directory}: unreadable input transform or scales: {error}") from error
        if len(detector.inputs_) != len(detector.models_) or (
            "normal_scores" in detector.inputs_ and detector.normal_scores_ is None
        ):
            n_models = len(detector.models_)
            raise ModelFileError(f"{directory}: inputs {detector.inputs_!r} do not match its {n_models} VAEs")
        if len(detector.score_scales_) != len(detector.models_):
            n_scales, n_models = len(detector.score_scales_), len(detector.models_)
            raise ModelFileError(f"{directory}: {n_scales} sets of score scales for {n_models} VAEs")
        detector.n_features_in_ = int(np.prod(detector.preprocessor_.raw_shape))
        return detector


def _input_names(inputs: str) -> list[str]:
    """The inputs named by ``inputs`` ("auto" -> [])."""
    if inputs == "auto":
        return []
    names = [p.strip() for p in str(inputs).split("+")]
    if any(n not in INPUTS for n in names) or len(set(names)) != len(names):
        raise ValueError(f"unknown inputs {inputs!r}; valid: 'auto', one of {list(INPUTS)}, or both joined by '+'")
    return names


def _needs_unit_interval(likelihood: Any) -> bool:
    name = likelihood if isinstance(likelihood, str) else likelihood.get("type")
    return name in ("bernoulli", "categorical", "discretized_logistic")


def _with_per_value_sigma(likelihood: Any, data_shape: list[int]) -> Any:
    """A fixed-variance Gaussian likelihood spec with one sigma per value; other likelihoods unchanged."""
    spec = {"type": likelihood} if isinstance(likelihood, str) else dict(likelihood)
    if spec.get("type") != "gaussian" or spec.get("variance", "fixed") != "fixed":
        return likelihood
    return {**spec, "shape": [int(s) for s in data_shape]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):  # e.g. n_models=np.int64(3)
        return value.item()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
