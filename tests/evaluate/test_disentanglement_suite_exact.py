"""The disentanglement suite reports each metric's own figures, and representations are posterior means or draws."""

import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from tests.evaluate.test_disentanglement_information_exact import _bins, _mi
from tests.evaluate.test_disentanglement_interventions_exact import Grid
from vaekit.evaluate.disentanglement import betavae_score, dci, disentanglement_metrics, factorvae_score, sap
from vaekit.evaluate.disentanglement.suite import METRICS, representation


def _mixed(x: torch.Tensor) -> np.ndarray:
    """3 codes mixing two factors (so the scores are not all 1), the last a copy of the first."""
    f = x.numpy() - 1
    return np.stack([f[:, 0] + 0.3 * f[:, 1], f[:, 1] - 0.5 * f[:, 0], f[:, 0] + 0.3 * f[:, 1]], axis=1)


def test_the_suite_passes_its_sizes_and_generator_to_every_metric():
    """Grid examples are drawn without the generator, so the scores see a fresh one seeded with ``seed``.
    No code sees factor 2, so neither score is 1."""
    data = Grid((2, 3, 2))
    began = time.perf_counter()
    result = disentanglement_metrics(data, _mixed, n_train=60, n_test=30, score_train=40, score_eval=30, batch_size=8)
    elapsed = time.perf_counter() - began
    rng = np.random.default_rng(0)
    expected = {**betavae_score(data, _mixed, rng, 8, 40, 30), **factorvae_score(data, _mixed, rng, 8, 40, 30)}
    assert {k: result[k] for k in expected} == expected
    assert expected["betavae_train"] < 0.95 and expected["factorvae_train"] < 0.95
    assert set(result["seconds"]) == {"encode", *METRICS}
    assert all(0.0 <= s <= elapsed for s in result["seconds"].values())
    assert result["latent_dim"] == 3 and result["factor_names"] == ["f0", "f1", "f2"]


def test_the_suite_gives_dci_its_trees_and_seed():
    """Exact trees break the tie between the copied codes with the seed; the suite's DCI is dci()'s."""
    data = Grid((2, 3))
    result = disentanglement_metrics(data, _mixed, seed=3, metrics=["dci"], n_train=48, n_test=24, trees="exact")
    factors_train, x_train = data.sample(48, None)
    factors_test, x_test = data.sample(24, None)
    expected = dci(_mixed(x_train), factors_train, _mixed(x_test), factors_test, "exact", 1, 3)
    assert {k: result[k] for k in expected} == expected


def test_the_mi_matrix_is_mutual_information_over_factor_entropy():
    """Columns: a binary factor (entropy log 2 < 1 nat), a 3-valued one, and a constant one (column 0)."""
    data = Grid((2, 3, 1))

    def represent(x):
        f = x.numpy() - 1
        return np.stack([f[:, 0], f[:, 1], f[:, 0] + f[:, 1], f[:, 0] - f[:, 1]], axis=1)

    result = disentanglement_metrics(data, represent, metrics=["mig"], n_train=90, n_test=10)
    factors, x = data.sample(90, None)
    binned = _bins(represent(x), 20)
    entropy = [_mi(f, f) for f in factors.T]
    expected = [[_mi(b, f) / h if h > 0 else 0.0 for f, h in zip(factors.T, entropy)] for b in binned.T]
    np.testing.assert_allclose(result["mi_matrix"], expected, rtol=1e-10, atol=1e-12)
    assert np.array(expected)[0, 0] == pytest.approx(1.0)  # code 0 is factor 0
    assert set(result["seconds"]) == {"encode", "mig"} and result["latent_dim"] == 4


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3, 2)

    def encode(self, x, check=True):
        h = self.net(x)
        return Independent(Normal(h, nn.functional.softplus(h) + 0.1), 1)


def test_representation_is_the_posterior_mean_or_one_seeded_draw():
    torch.manual_seed(0)
    model, x = _Tiny(), torch.randn(7, 3)
    with torch.no_grad():
        q = model.encode(x)
    means = representation(model)(x)
    assert means.dtype == np.float64
    np.testing.assert_allclose(means, q.mean.numpy(), rtol=1e-6)
    eps = torch.randn((7, 2), generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(representation(model, mean=False)(x), (q.mean + q.stddev * eps).numpy(), rtol=1e-6)
    eps = torch.randn((7, 2), generator=torch.Generator().manual_seed(5))
    draws = representation(model, mean=False, seed=5)(x)
    np.testing.assert_allclose(draws, (q.mean + q.stddev * eps).numpy(), rtol=1e-6)
    np.testing.assert_allclose(representation(model, inputs=lambda v: 2 * v, batch_size=3)(x / 2), means, rtol=1e-6)
    assert model.training


def _partial(x: torch.Tensor) -> np.ndarray:
    """Codes of f0 and (f0 + f1) mod 2: f1 is partly lost and f2 unseen, so every figure depends on the sample."""
    f = x.numpy() - 1
    return np.stack([f[:, 0], (f[:, 0] + f[:, 1]) % 2, 0.5 * f[:, 0]], axis=1)


def test_the_suite_defaults_are_disentanglement_libs_sizes():
    """Defaults: seed 0, 10000 / 5000 points for the predictors, 10000 / 5000 groups of 64 for the scores."""
    data = Grid((2, 3, 2))
    result = disentanglement_metrics(data, _partial, metrics=["betavae", "sap"])
    (factors_train, x_train), (factors_test, x_test) = data.sample(10000, None), data.sample(5000, None)
    expected = betavae_score(data, _partial, np.random.default_rng(0))
    assert {k: result[k] for k in expected} == expected and expected["betavae_train"] < 0.9
    assert result["sap"] == sap(_partial(x_train), factors_train, _partial(x_test), factors_test)["sap"]
    binned = _bins(_partial(x_train), 20)
    entropy = [_mi(f, f) for f in factors_train.T]
    expected = [[_mi(b, f) / h for f, h in zip(factors_train.T, entropy)] for b in binned.T]
    np.testing.assert_allclose(result["mi_matrix"], expected, rtol=1e-10, atol=1e-14)
