"""BetaVAE and FactorVAE scores on a small factor grid whose outcome can be worked out by hand."""

import numpy as np
import torch

from vaekit.evaluate.disentanglement import betavae_score, factorvae_score
from vaekit.evaluate.disentanglement.interventions import CHUNK, _betavae_points, _factorvae_votes, _groups


class Grid:
    """Factors with ``sizes`` values each; x is the factor vector plus one. ``sample`` enumerates the grid
    in order (no randomness, so its variances are known); held-fixed draws pick the other factors at random."""

    def __init__(self, sizes: tuple[int, ...]):
        self.sizes = sizes
        self.factor_names = [f"f{i}" for i in range(len(sizes))]
        self.grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, len(sizes))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.grid[np.arange(n) % len(self.grid)]

    def sample(self, n: int, rng: np.random.Generator):
        factors = self.sample_factors(n, rng)
        return factors, torch.from_numpy(factors + 1.0)

    def sample_fixed(self, factor, values, rng: np.random.Generator):
        factors = np.stack([rng.integers(0, s, len(values)) for s in self.sizes], axis=1)
        which = np.broadcast_to(np.asarray(factor), np.shape(values))
        factors[np.arange(len(values)), which] = values
        return factors, torch.from_numpy(factors + 1.0)


def _identity(x: torch.Tensor) -> np.ndarray:
    return x.numpy()


def test_groups_hold_one_factor_and_number_exactly_n():
    """2048-example groups come two to a chunk: 3 groups are 2 + 1, each sharing its fixed factor's value."""
    data = Grid((2, 3))
    chunks = list(_groups(data, 3, 2048, np.random.default_rng(0), pairs=False))
    assert [len(fixed) for fixed, _ in chunks] == [2, 1]
    for fixed, (x,) in chunks:
        values = x.numpy().reshape(len(fixed), 2048, 2)[np.arange(len(fixed)), :, fixed]  # (G, B)
        assert (values == values[:, :1]).all()
    for fixed, (x1, x2) in _groups(data, 5, 7, np.random.default_rng(1), pairs=True):
        assert len(fixed) == 5 and x1.shape == x2.shape == (35, 2)
        rows, which = np.arange(35), np.repeat(fixed, 7)
        np.testing.assert_array_equal(x1.numpy()[rows, which], x2.numpy()[rows, which])
        assert (x1.numpy() != x2.numpy()).any()


def test_groups_larger_than_a_chunk_are_encoded_one_at_a_time():
    chunks = list(_groups(Grid((2, 3)), 2, CHUNK + 1, np.random.default_rng(0), pairs=False))
    assert [len(fixed) for fixed, _ in chunks] == [1, 1]


def test_betavae_points_are_mean_absolute_code_differences_of_each_group():
    data, weights = Grid((2, 3)), np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # 2 factors -> 3 codes

    def represent(x):
        return x.numpy() @ weights

    features, labels = _betavae_points(data, represent, 6, 5, np.random.default_rng(3))
    expected, names = [], []
    for fixed, (x1, x2) in _groups(data, 6, 5, np.random.default_rng(3), pairs=True):
        for g in range(len(fixed)):
            rows = slice(5 * g, 5 * g + 5)
            expected.append(np.abs(represent(x1[rows]) - represent(x2[rows])).mean(0))
        names.extend(fixed)
    assert features.shape == (6, 3)
    np.testing.assert_allclose(features, np.array(expected), rtol=1e-12)
    np.testing.assert_array_equal(labels, names)
    assert (features[np.arange(6), labels] == 0).all()  # the fixed factor's own code never moves


def test_betavae_score_is_perfect_for_the_identity_code():
    result = betavae_score(Grid((2, 3)), _identity, np.random.default_rng(0), batch_size=16, n_train=40, n_eval=20)
    assert result == {"betavae_train": 1.0, "betavae_eval": 1.0}


def _scaled(x: torch.Tensor) -> np.ndarray:
    """Code 0 = 10 f0 + f1 / 2 (large scale), code 1 = f1 + f0 / 10, code 2 collapsed."""
    f = x.numpy() - 1
    return np.stack([10 * f[:, 0] + 0.5 * f[:, 1], f[:, 1] + 0.1 * f[:, 0], np.zeros(len(f))], axis=1)


def test_factorvae_votes_use_variance_relative_to_the_global_variance():
    """Fixing f0 leaves code 0 a small variance only relative to its large global one: code 0 votes f0."""
    data = Grid((2, 3))
    scale = np.var(_scaled(data.sample(60, None)[1]), axis=0, ddof=1)
    active = np.array([True, True, False])
    votes = _factorvae_votes(data, _scaled, 25, 16, scale, active, np.random.default_rng(0))
    assert votes.shape == (2, 2) and np.issubdtype(votes.dtype, np.integer)
    assert votes.sum() == 25 and votes[0, 1] == 0 and votes[1, 0] == 0 and votes[0, 0] > 5 and votes[1, 1] > 5


def test_factorvae_score_is_one_for_a_scaled_code_and_prunes_the_collapsed_one():
    result = factorvae_score(Grid((2, 3)), _scaled, np.random.default_rng(1), batch_size=16, n_train=30, n_eval=20,
                             n_variance=60)  # fmt: skip
    assert result == {"factorvae_train": 1.0, "factorvae_eval": 1.0, "factorvae_active": 2}


def test_factorvae_prunes_codes_whose_sample_sd_is_below_the_threshold():
    """Code 3 = f0 has sample sd (ddof 1) exactly the threshold, so stays; code 4 = 0.97 f0 is pruned."""

    def represent(x):
        f = x.numpy() - 1
        return np.concatenate([_scaled(x), f[:, :1], 0.97 * f[:, :1]], axis=1)

    data = Grid((2, 3))
    threshold = float(np.sqrt(np.var(data.sample(12, None)[0][:, 0], ddof=1)))
    result = factorvae_score(data, represent, np.random.default_rng(2), batch_size=16, n_train=30, n_eval=20,
                             n_variance=12, prune_threshold=threshold)  # fmt: skip
    assert result == {"factorvae_train": 1.0, "factorvae_eval": 1.0, "factorvae_active": 3}


def test_a_collapsed_representation_scores_zero_with_no_active_code():
    result = factorvae_score(Grid((2, 3)), lambda x: np.zeros((len(x), 2)), np.random.default_rng(0), n_variance=50)
    assert result == {"factorvae_train": 0.0, "factorvae_eval": 0.0, "factorvae_active": 0}


def _labels(data: Grid, n: int, batch_size: int, rng: np.random.Generator, pairs: bool) -> np.ndarray:
    return np.concatenate([fixed for fixed, _ in _groups(data, n, batch_size, rng, pairs)])


def test_betavae_defaults_on_a_blind_code_give_the_majority_factor_share():
    """A constant code tells nothing: the classifier names the commonest fixed factor of the 10000 training
    groups (of 64 pairs); the 5000 evaluation groups follow on the same generator."""
    data = Grid((2, 3))
    result = betavae_score(data, lambda x: np.zeros((len(x), 1)), np.random.default_rng(4))
    rng = np.random.default_rng(4)
    train, evaluation = _labels(data, 10000, 64, rng, True), _labels(data, 5000, 64, rng, True)
    majority = np.argmax(np.bincount(train))
    assert len(train) == 10000 and len(evaluation) == 5000
    assert result == {"betavae_train": np.mean(train == majority), "betavae_eval": np.mean(evaluation == majority)}


def test_factorvae_defaults_on_one_code_give_the_majority_factor_share():
    """One active code takes every vote: accuracy is the commonest factor's share of 10000 training groups
    (of 64), applied to 5000 evaluation groups. The code's sd over the first 10000 grid rows is the threshold."""
    data = Grid((2, 3))
    threshold = float(np.sqrt(np.var(data.sample(10000, None)[0][:, 1], ddof=1)))
    assert threshold > np.sqrt(np.var(data.sample(10001, None)[0][:, 1], ddof=1))

    def represent(x):
        return x.numpy()[:, 1:] - 1

    result = factorvae_score(data, represent, np.random.default_rng(5), prune_threshold=threshold)
    rng = np.random.default_rng(5)
    train, evaluation = _labels(data, 10000, 64, rng, False), _labels(data, 5000, 64, rng, False)
    majority = np.argmax(np.bincount(train))
    assert result == {
        "factorvae_train": np.mean(train == majority), "factorvae_eval": np.mean(evaluation == majority),
        "factorvae_active": 1,
    }  # fmt: skip
