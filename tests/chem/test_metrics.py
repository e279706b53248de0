"""The MOSES metrics agree with molsets's own functions on a 1,000-molecule sample."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("fcd_torch")

from tests.chem.moses_reference import import_moses_metrics  # noqa: E402
from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.chem.metrics import moses_metrics, reference_statistics, tanimoto_aggregate  # noqa: E402


def test_metrics_agree_with_molsets_on_1000_molecules():
    reference = import_moses_metrics()
    test = load_moses_split("test")
    train = test[5000:8000]  # a stand-in training set that overlaps the sample, so novelty is below 1
    generated = test[:900] + test[5000:5090] + ["C1CC", "xyz", "", *test[:7]]  # duplicates and invalid ones
    ref = test[20000:20500]
    ours = moses_metrics(generated, train, {"Test": reference_statistics(ref)}, unique_at=(1000,))
    mols = reference.remove_invalid(generated, canonize=True)
    parsed = [reference.get_mol(s) for s in mols]
    theirs = {
        "valid": reference.fraction_valid(generated),
        "unique@1000": reference.fraction_unique(mols, 1000),
        "novelty": reference.novelty(parsed, train),
        "SNN/Test": reference.SNNMetric()(gen=parsed, ref=ref),
        "Frag/Test": reference.FragMetric()(gen=parsed, ref=ref),
        "Scaf/Test": reference.ScafMetric()(gen=parsed, ref=ref),
        "IntDiv": reference.internal_diversity(parsed),
        "FCD/Test": reference.FCDMetric()(gen=mols, ref=ref),
    }
    assert 0.9 < theirs["novelty"] < 1 and theirs["valid"] < 1 and theirs["unique@1000"] < 1
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(float(value), rel=1e-5, abs=1e-6), key


def test_tanimoto_aggregates_match_a_direct_computation():
    rng = np.random.default_rng(0)
    a = (rng.random((40, 64)) < 0.2).astype(np.uint8)
    b = (rng.random((30, 64)) < 0.2).astype(np.uint8)
    b[0] = 0
    a[0] = 0  # two empty fingerprints count as identical
    both = b.astype(float) @ a.T.astype(float)
    union = b.sum(1)[:, None] + a.sum(1)[None] - both
    sim = np.where(union > 0, both / np.maximum(union, 1), 1.0)
    assert np.allclose(tanimoto_aggregate(a, b, "max", block=7), sim.max(1))
    assert np.allclose(tanimoto_aggregate(a, b, "mean", block=7), sim.mean(1))
