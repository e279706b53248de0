"""The disentanglement suite on a trained run: ``vaekit evaluate RUN --disentanglement``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.data.dsprites import DSprites
from vaekit.data.errors import DataError
from vaekit.data.factors import GroundTruth, LabelledExamples
from vaekit.evaluate.disentanglement.pictures import draw_disentanglement_figures
from vaekit.evaluate.disentanglement.suite import disentanglement_metrics, representation

# Built-in datasets whose ground truth is rendered afresh (any image, not only a stored split).
RENDERED = {"dsprites": "binary", "dsprites-colour": "colour"}

TABLE_ROWS = (
    ("betavae_eval", "BetaVAE score"),
    ("factorvae_eval", "FactorVAE score"),
    ("mig", "MIG"),
    ("dci_disentanglement", "DCI disentanglement"),
    ("dci_completeness", "DCI completeness"),
    ("dci_informativeness_test", "DCI informativeness (test accuracy)"),
    ("sap", "SAP"),
    ("modularity", "modularity"),
    ("explicitness_test", "explicitness (test ROC AUC)"),
)


def ground_truth_for(loaded: Any, data: str | None = None, split: str = "test") -> GroundTruth:
    """The ground truth a run is measured against.

    dSprites (the run's data or ``data`` naming it) is rendered on demand; any other data must carry
    factor labels (an ``.npz`` with a ``factors`` array), and the metrics draw from ``split`` of it.

    Raises:
        DataError: the data has no factor labels.
    """
    from vaekit.runs import check_fits, load_data_for

    name = data
    if name is None and loaded.config is not None and loaded.config.data.path is None:
        name = loaded.config.data.name
    if name in RENDERED and not Path(name).exists():
        truth = DSprites(RENDERED[name])
        if tuple(truth.data_shape) != tuple(loaded.model.data_shape):
            raise DataError(f"{name} images have shape {truth.data_shape}; the model expects {loaded.model.data_shape}")
        return truth
    examples = load_data_for(loaded, data, split)
    check_fits(loaded, examples)
    if examples.factors is None:
        raise DataError(
            "the data has no factor labels: disentanglement needs dsprites or an .npz with a 'factors' array"
        )
    return LabelledExamples(examples.x, examples.factors)


def evaluate_disentanglement(
    loaded: Any,
    data: str | None = None,
    split: str = "test",
    seed: int = 0,
    points: int = 10000,
    score_groups: int = 10000,
    out: str | Path | None = None,
    trees: str = "hist",
) -> dict[str, Any]:
    """Every disentanglement metric of a run on its posterior means, and its pictures in ``out``.

    Args:
        loaded: a :class:`~vaekit.runs.LoadedModel`.
        data: other data (a built-in name or a path) instead of the run's own.
        split: the split of stored labelled data to draw from.
        seed: seed of every draw.
        points: points for MIG, DCI, SAP, modularity and explicitness (half as many more to test).
        score_groups: training groups of the BetaVAE / FactorVAE scores (half as many to evaluate).
        out: folder for ``traversal_all.png``, ``traversal.gif`` and ``mi_heatmap.png`` (None: no pictures).
        trees: DCI's boosted trees: "hist" (histogram-based, fast) or "exact" (disentanglement_lib's).
    """
    import numpy as np

    model, prep = loaded.model, loaded.preprocessing
    if not hasattr(model, "encode"):
        raise DataError(f"{type(model).__name__} has no encoder to measure")
    truth = ground_truth_for(loaded, data, split)
    represent = representation(model, prep.model_inputs, seed=seed)
    results = disentanglement_metrics(
        truth,
        represent,
        seed=seed,
        n_train=points,
        n_test=max(2, points // 2),
        score_train=score_groups,
        score_eval=max(1, score_groups // 2),
        trees=trees,
    )
    if out is not None:
        _, start = truth.sample(1, np.random.default_rng(seed))
        results["figures"] = [str(p) for p in draw_disentanglement_figures(
            model, prep, start[0], results["mi_matrix"], results["factor_names"], out
        )]  # fmt: skip
    return results


def format_disentanglement(results: dict[str, Any]) -> str:
    """The metrics as an aligned two-column table."""
    lines = [f"{'metric':<40} value", f"{'-' * 40} {'-' * 10}"]
    lines += [f"{name:<40} {results[key]:.4f}" for key, name in TABLE_ROWS if key in results]
    lines.append(f"{'factors':<40} {', '.join(results['factor_names'])}")
    return "\n".join(lines)
