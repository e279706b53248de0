"""Default model, inputs, likelihood and training length, chosen from the data's kind, shape and size.

These are the settings ``VAEDetector().fit(X)`` uses when no argument is given; they were
chosen with ``benchmarks/anomaly.py`` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vaekit.anomaly.preprocessing import TABULAR


@dataclass
class TrainingPlan:
    """Everything needed to build and train the detector's VAE.

    Attributes:
        model: arguments of :func:`vaekit.build_vae` (without the data shape).
        epochs: passes over the training data.
        batch_size: examples per gradient step.
        score: the default anomaly score for this kind of data.
        n_models: how many VAEs to train (from different initializations); the score is their mean.
        lr: Adam learning rate.
        architecture: "linear" (linear-Gaussian VAEs fitted in closed form, :mod:`vaekit.anomaly.linear`;
            ``model``, ``epochs``, ``batch_size``, ``n_models`` and ``lr`` do not apply) or "mlp" (trained).
        inputs: what the VAEs see, member ``i`` the ``i % len(inputs)``-th: "values" (the preprocessed
            data) or "normal_scores" (its per-column normal scores, :mod:`vaekit.anomaly.normal_scores`).
    """

    model: dict[str, Any]
    epochs: int
    batch_size: int
    score: str
    n_models: int = 1
    lr: float = 1e-3
    architecture: str = "mlp"
    inputs: list[str] = field(default_factory=lambda: ["values"])


# Up to this many training examples, the default detector is an ensemble of ENSEMBLE_SIZE VAEs. With few
# examples, VAEs trained from different initializations disagree most, and each trains in seconds. One-class
# digits (100 training images a class; benchmarks/RESULTS.md): single VAEs 0.9971-0.9980 mean ROC AUC over
# 15 seeds (mean 0.9975), ensembles of 5 0.9980-0.9981 at lr 1e-3 (three sets of seeds); on the tables the ensemble beat
# the average single model on each data set. Larger data sets keep one model: they vary less and cost more.
SMALL_DATA = 500
ENSEMBLE_SIZE = 5
LINEAR = "linear"
ARCHITECTURES = ("auto", LINEAR, "mlp")
INPUTS = ("values", "normal_scores")


def _epochs_for_steps(n: int, batch_size: int, steps: int, lo: int, hi: int) -> int:
    """Enough epochs for about ``steps`` gradient steps, within [lo, hi]."""
    per_epoch = max(1, math.ceil(n / batch_size))
    return int(min(hi, max(lo, round(steps / per_epoch))))


def default_plan(kind: str, data_shape: list[int], n: int, architecture: str = "auto") -> TrainingPlan:
    """The default plan for ``n`` examples of ``data_shape`` (model input layout).

    ``architecture`` "auto" is "linear" for tables and "mlp" for images. Linear (tables): two
    linear-Gaussian VAEs fitted in closed form, one on the standardized values and one on their per-column
    normal scores, each scored by its exact negative log-likelihood; the two scores are put on one scale
    and averaged. MLP tables (standardized): a two-layer MLP about four times as wide as the data, a latent space
    of about a third of the features, a Gaussian likelihood whose variance the decoder predicts per
    feature, about 300 gradient steps, and the importance-sampled NLL as the score. Images in
    [0, 1]: an MLP 512-256 with 16 latents, a Gaussian likelihood with a fixed sigma of 0.1 (refit per
    pixel after training by the detector, see :mod:`vaekit.anomaly.calibration`), about 2,500 steps,
    and the negative ELBO as the score. Tables: an ensemble of ``ENSEMBLE_SIZE`` VAEs for data sets of
    at most ``SMALL_DATA`` examples (tables only; images always train one), else one; Adam at lr 1e-3
    (3e-3 for an ensemble).
    """
    d = math.prod(data_shape)
    if architecture == "auto":
        architecture = LINEAR if kind == TABULAR else "mlp"
    if architecture == LINEAR:
        # Chosen on the tuning sets of benchmarks/anomaly.py (benchmarks/RESULTS.md, "choosing the table model").
        # Over the 19 tables: mean ROC AUC 0.983 against 0.965 for the ensemble of five MLP VAEs this replaced,
        # which trailed the best classical detector by up to 0.09 on the dependency sets, and fitted in about
        # 5x kNN's time instead of 1,500x. The values alone miss dependency-digits64 (-0.077 against COPOD);
        # the normal scores alone lose breast_cancer (-0.021) and wine (-0.012); the pair stays within 0.0074.
        inputs = ["values", "normal_scores"] if kind == TABULAR else ["values"]
        return TrainingPlan({"latent_dim": d, "likelihood": "gaussian"}, 0, 0, "nll", len(inputs), 0.0, LINEAR, inputs)
    if kind == TABULAR:
        width = int(min(256, max(32, 4 * d)))
        latent = int(min(32, max(2, round(d / 3))))
        batch_size = int(min(128, max(16, n // 8)))
        # A variance per feature and example (from the decoder) let the NLL weigh each feature's
        # error by how predictable it is: it beat one shared variance on every table benchmarked.
        model = {
            "latent_dim": latent,
            "hidden": [width, width],
            "likelihood": {"type": "gaussian", "variance": "decoder"},
        }
        # Few steps: tables are small, and longer training overfits the normal class (lower AUC).
        epochs = _epochs_for_steps(n, batch_size, 300, 5, 500)
        return TrainingPlan(model, epochs, batch_size, "nll", _ensemble_size(n))
    batch_size = 64
    # A Gaussian with a fixed sigma of 0.1 on [0, 1] pixels: a Bernoulli's likelihood favours images
    # with many dark pixels whatever their content (one-class Fashion-MNIST ROC AUC near 0.6 with
    # its ELBO), while this one scores the size of the error (0.921 at 2,500 steps, level with a plain AE).
    model = {"latent_dim": 16, "hidden": [512, 256], "likelihood": {"type": "gaussian", "sigma": 0.1}}
    # 2,500 steps rather than 1,000: one-class Fashion-MNIST ROC AUC (classes 0, 5, 8, 9) rose from 0.902
    # to 0.917; sigma 0.05 or 0.2, the NLL score (k=32) and the reconstruction error all did worse.
    # The ELBO stays the default score: dropping its KL term ("reconstruction_nll") gained only
    # 0.9166 -> 0.9176 on that subset (noise level), but an outlier inside contaminated training data,
    # which the decoder learns to rebuild, is then found only by its KL (ranked 1st with the ELBO, 24th
    # without), and fit(X) with a contamination fraction is the common use.
    # Small data sets get the 2,500 steps too (up to 5,000 epochs): capped at 500 epochs, one-class digits
    # trained 1,000 steps and scored 0.9971 (single VAEs, 3 seeds) against 0.9975 (15 seeds) with 2,500.
    epochs = _epochs_for_steps(n, batch_size, 2500, 5, 5000)
    # One model for images of any number: an ensemble of 5 gained one-class digits only 0.9975 -> 0.998 mean
    # ROC AUC at five times the fit time, and a single model already leads every PyOD detector there
    # (benchmarks/RESULTS.md, "vaekit against PyOD's detectors").
    n_models = 1
    # An ensemble's VAEs train at lr 3e-3: one-class digits, ensembles of 5 reached 0.9982-0.9983 mean ROC AUC
    # (two sets of seeds) against 0.9980-0.9981 at 1e-3 (three sets), with single VAEs equal (0.9976 vs 0.9975
    # over 10 and 15 seeds): the larger steps leave the members more different. One model on a larger data set
    # keeps 1e-3 (Fashion-MNIST, 1,000 images a class: 0.9252 against 0.9242 at 3e-3).
    lr = 3e-3 if n_models > 1 else 1e-3
    return TrainingPlan(model, epochs, batch_size, "elbo", n_models, lr)


def _ensemble_size(n: int) -> int:
    return ENSEMBLE_SIZE if n <= SMALL_DATA else 1
