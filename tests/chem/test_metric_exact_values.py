"""Tanimoto aggregates and count cosines on tiny hand-checkable fingerprints and counts."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("rdkit")

from vaekit.chem.metrics import cosine_of_counts, tanimoto_aggregate  # noqa: E402


def test_tanimoto_of_one_bit_fingerprints_by_hand():
    """Unions of a single bit: |A & B| / |A | B| is 0 (one empty) or 1 (equal); two empty ones count as 1."""
    reference = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=np.uint8)
    generated = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=np.uint8)
    # similarity rows (generated) x columns (reference):
    #   [1000]: 0 (union 1), 1, 0       [0000]: 1 (both empty), 0, 0       [0100]: 0, 0 (union 2), 1/2
    sims = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    np.testing.assert_allclose(tanimoto_aggregate(reference, generated, "max"), sims.max(1), atol=1e-12)
    np.testing.assert_allclose(tanimoto_aggregate(reference, generated, "mean"), sims.mean(1), atol=1e-12)


def test_tanimoto_is_exact_for_fingerprints_with_many_bits():
    """600 and 601 bits sharing 599: similarity 599 / 602 (bf16 would round 599 shared bits to 600)."""
    a = np.zeros((1, 1024), dtype=np.uint8)
    b = np.zeros((1, 1024), dtype=np.uint8)
    a[0, :600] = 1
    b[0, 1:602] = 1
    np.testing.assert_allclose(tanimoto_aggregate(a, b, "max"), [599 / 602], rtol=1e-7)
    np.testing.assert_allclose(tanimoto_aggregate(a, b, "mean"), [599 / 602], rtol=1e-7)


def test_tanimoto_aggregate_accepts_only_max_or_mean():
    a = np.ones((2, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match="agg"):
        tanimoto_aggregate(a, a, "median")


def test_cosine_of_counts_by_hand_and_nan_when_either_side_is_empty():
    # r = (a 1, b 2, c 0), g = (a 0, b 2, c 2): 4 / (sqrt 5 sqrt 8)
    value = cosine_of_counts(Counter(a=1, b=2), Counter(b=2, c=2))
    assert value == pytest.approx(4 / math.sqrt(40), rel=1e-12)
    assert cosine_of_counts(Counter(a=3), Counter(a=1)) == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN by definition, not from a 0 / 0 division
        assert math.isnan(cosine_of_counts(Counter(), Counter(a=1)))
        assert math.isnan(cosine_of_counts(Counter(a=1), Counter()))


@pytest.mark.filterwarnings("ignore")
def test_moses_metrics_of_a_single_valid_sample():
    """One sample, ethanol, also in the training and reference sets: valid 1, novelty 0, SNN 1, IntDiv 0, and Frag
    the cosine of {CCO: 1} with {CCO: 1, c1ccccc1: 1}."""
    pytest.importorskip("fcd_torch")
    from vaekit.chem.metrics import moses_metrics, reference_statistics

    ref = reference_statistics(["CCO", "c1ccccc1"])
    metrics = moses_metrics(["CCO"], {"CCO"}, {"T": ref}, unique_at=(1,))
    assert metrics["valid"] == 1.0 and metrics["unique@1"] == 1.0 and metrics["novelty"] == 0.0
    assert metrics["SNN/T"] == pytest.approx(1.0) and metrics["IntDiv"] == pytest.approx(0.0)
    assert metrics["Frag/T"] == pytest.approx(1 / math.sqrt(2))
    assert moses_metrics(["xyz"], [], {"T": ref}) == {"valid": 0.0}


@pytest.mark.filterwarnings("ignore")
def test_a_valid_sample_whose_canonical_form_rdkit_cannot_read_back_is_scored():
    """RDKit reads this sample (so it is valid, as in MOSES) but not the canonical SMILES it writes for it; the
    fingerprints, fragments and scaffolds then use the string as written."""
    pytest.importorskip("fcd_torch")
    from vaekit.chem.metrics import moses_metrics, reference_statistics
    from vaekit.chem.molecules import canonical, to_mol

    odd = "CC(C)CNC(=O)c1nc2nc(-c3ccccc3)n[nH]c2=s1"
    assert to_mol(odd) is not None and to_mol(canonical(odd)) is None
    metrics = moses_metrics([odd, "CCO"], set(), {"T": reference_statistics(["CCO", "c1ccccc1"])}, unique_at=(2,))
    assert metrics["valid"] == 1.0 and metrics["unique@2"] == 1.0 and metrics["novelty"] == 1.0
    assert 0.5 < metrics["SNN/T"] < 1.0  # ethanol matches itself; the other is its own
