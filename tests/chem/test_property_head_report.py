"""The property head's report on few held-out molecules: a correlation only where one is defined."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("rdkit")

from vaekit.chem.reports import property_head_report  # noqa: E402


class _Head:
    """Stands in for a MoleculeModel: fixed predictions, one row per molecule."""

    properties = ("qed", "logp")

    def __init__(self, predicted: np.ndarray):
        self.predicted = predicted

    def predict(self, smiles: list[str]) -> np.ndarray:
        return self.predicted[: len(smiles)]


def _report(predicted: list[list[float]], truth: list[list[float]]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "Degrees of freedom <= 0", "invalid value"
        return property_head_report(_Head(np.array(predicted)), ["CCO"] * len(truth), np.array(truth))


def test_one_molecule_has_a_mean_error_but_no_correlation():
    report = _report([[0.5, 1.0]], [[0.25, 3.0]])
    assert math.isnan(report["qed"]["correlation"]) and math.isnan(report["logp"]["correlation"])
    assert report["qed"]["mae"] == pytest.approx(0.25) and report["logp"]["mae"] == pytest.approx(2.0)


def test_a_constant_side_has_no_correlation_and_the_rest_is_pearsons():
    predicted = [[0.5, 1.0], [0.5, 2.0], [0.5, 4.0]]
    truth = [[0.1, 1.5], [0.2, 2.0], [0.4, 3.0]]
    report = _report(predicted, truth)
    assert math.isnan(report["qed"]["correlation"])  # the head predicts one value for every molecule
    expected = np.corrcoef([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])[0, 1]
    assert report["logp"]["correlation"] == pytest.approx(expected)
    assert report["logp"]["mae"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
