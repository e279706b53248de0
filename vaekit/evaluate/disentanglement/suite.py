"""The whole disentanglement suite on one model: representations, then every metric, timed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.data.factors import GroundTruth
from vaekit.evaluate.disentanglement.information import mig, modularity, mutual_information_matrix
from vaekit.evaluate.disentanglement.interventions import Represent, betavae_score, factorvae_score
from vaekit.evaluate.disentanglement.predictive import dci, explicitness, sap

METRICS = ("betavae", "factorvae", "mig", "dci", "sap", "modularity")


def representation(
    model: nn.Module,
    inputs: Callable[[Tensor], Tensor] | None = None,
    mean: bool = True,
    batch_size: int = 2048,  # pragma: no mutate (equivalent: memory only)
    seed: int = 0,
) -> Represent:
    """A function from raw observations to codes: posterior means (default) or one draw of z.

    Args:
        model: a model with ``encode(x) -> q(z|x)``.
        inputs: raw observations -> model inputs (e.g. ``Preprocessing.model_inputs``); None: as they are.
        mean: the mean of q(z|x) (disentanglement_lib's default), else a sample.
        batch_size: examples encoded at a time.
        seed: seed of the draws when ``mean`` is False.
    """
    device = next(model.parameters()).device  # pragma: no mutate (equivalent on CPU: device)
    generator = torch.Generator(device=device)  # pragma: no mutate (equivalent on CPU: device)
    generator.manual_seed(seed)

    @torch.no_grad()
    def represent(x: Tensor) -> np.ndarray:
        was_training = model.training
        model.eval()
        codes = []
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size]
            xb = (inputs(xb) if inputs is not None else xb).to(device)
            q = model.encode(xb, check=False)
            if mean:
                codes.append(q.mean.float().cpu())
            else:
                eps = torch.randn(q.mean.shape, generator=generator, device=device)
                codes.append((q.mean + q.stddev * eps).float().cpu())
        model.train(was_training)
        return torch.cat(codes).numpy().astype(np.float64)

    return represent


def disentanglement_metrics(
    data: GroundTruth,
    represent: Represent,
    seed: int = 0,
    metrics: Sequence[str] = METRICS,
    n_train: int = 10000,
    n_test: int = 5000,
    score_train: int = 10000,
    score_eval: int = 5000,
    batch_size: int = 64,
    trees: str = "hist",
    n_jobs: int = 1,  # pragma: no mutate (equivalent: worker count)
) -> dict[str, Any]:
    """Every metric of disentanglement_lib's set, with its defaults, on one representation.

    MIG, DCI, SAP, modularity and explicitness use ``n_train`` random points (and ``n_test`` more
    for the predictors' test figures); the BetaVAE and FactorVAE scores use ``score_train`` /
    ``score_eval`` groups of ``batch_size`` examples with one factor fixed.

    Returns:
        The figures by name, ``mi_matrix`` (codes x factors, MI / factor entropy), ``factor_names``
        and ``seconds`` per metric.
    """
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown disentanglement metrics {unknown}; valid: {list(METRICS)}")
    rng = np.random.default_rng(seed)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    factors_train, x = data.sample(n_train, rng)
    codes_train = represent(x)
    factors_test, x = data.sample(n_test, rng)
    codes_test = represent(x)
    seconds["encode"] = time.perf_counter() - began
    results: dict[str, Any] = {"factor_names": list(data.factor_names), "latent_dim": int(codes_train.shape[1])}

    def timed(name: str, compute: Callable[[], dict[str, Any]]) -> None:
        start = time.perf_counter()
        results.update(compute())
        seconds[name] = time.perf_counter() - start

    mi = mutual_information_matrix(codes_train, factors_train)  # (D, K)
    entropy = np.array([mutual_information_matrix(f[:, None], f[:, None])[0, 0] for f in factors_train.T])
    results["mi_matrix"] = (mi / np.where(entropy > 0, entropy, np.inf)).tolist()
    if "betavae" in metrics:
        timed("betavae", lambda: betavae_score(data, represent, rng, batch_size, score_train, score_eval))
    if "factorvae" in metrics:
        timed("factorvae", lambda: factorvae_score(data, represent, rng, batch_size, score_train, score_eval))
    if "mig" in metrics:
        timed("mig", lambda: mig(codes_train, factors_train))
    if "dci" in metrics:
        timed("dci", lambda: dci(codes_train, factors_train, codes_test, factors_test, trees, n_jobs, seed))
    if "sap" in metrics:
        timed("sap", lambda: sap(codes_train, factors_train, codes_test, factors_test))
    if "modularity" in metrics:
        timed(
            "modularity",
            lambda: {
                "modularity": modularity(mi),
                **explicitness(codes_train, factors_train, codes_test, factors_test),
            },
        )
    results["seconds"] = seconds
    return results
