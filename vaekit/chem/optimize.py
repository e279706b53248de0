"""Searching a molecule VAE's latent space for high property values, scored by RDKit (never by the head).

- :func:`gradient_ascent`: follow the property head's gradient from starting latents, decoding each step.
- :func:`bayesian_optimisation`: a Gaussian process on latents -> RDKit scores with expected improvement.
  The GP is written here (exact GP, ARD RBF kernel, hyperparameters by marginal likelihood): a few dozen lines
  of torch serve a one-objective search over a few hundred points, where BoTorch would bring in BoTorch,
  GPyTorch, linear_operator and pyro-ppl for the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from vaekit.chem.model import MoleculeModel
from vaekit.chem.molecules import canonical, properties_of
from vaekit.decoding import DecodeOptions

# Properties where lower is better (the synthetic accessibility score runs from 1, easy, to 10, hard).
MINIMIZED = ("sa",)
GREEDY = DecodeOptions("greedy")


@dataclass
class Found:
    """A molecule a search decoded, with its RDKit score."""

    smiles: str
    score: float
    step: int


@dataclass
class SearchResult:
    """What a search found: every distinct valid molecule by falling score, and the trajectories' molecules."""

    method: str
    prop: str
    found: list[Found] = field(default_factory=list)
    trajectories: list[list[str]] = field(default_factory=list)
    evaluations: int = 0

    def best(self, n: int = 10) -> list[Found]:
        return self.found[:n]


def score(smiles: str, prop: str) -> float | None:
    """RDKit's value of ``prop`` for a molecule (None if invalid)."""
    values = properties_of(smiles, (prop,))
    return None if values is None else values[0]


def _objective(value: float, prop: str) -> float:
    return -value if prop in MINIMIZED else value


def _collect(result: SearchResult, smiles: list[str], step: int, seen: dict[str, Found]) -> list[float | None]:
    scores = []
    for s in smiles:
        c = canonical(s)
        value = None if c is None else score(c, result.prop)
        scores.append(value)
        result.evaluations += 1
        if c is not None and value is not None and c not in seen:
            seen[c] = Found(c, value, step)
    return scores


def _finish(result: SearchResult, seen: dict[str, Found]) -> SearchResult:
    result.found = sorted(seen.values(), key=lambda f: -_objective(f.score, result.prop))
    return result


def gradient_ascent(
    model: MoleculeModel,
    prop: str,
    start: Tensor,
    steps: int = 50,
    lr: float = 0.05,
    prior_weight: float = 0.1,
) -> SearchResult:
    """Move latents ``start`` (N, D) uphill on the head's prediction of ``prop`` (a penalty of
    ``prior_weight`` * ||z||^2 / 2 keeps them where the decoder was trained); decode every step.
    """
    index = model.properties.index(prop)
    sign = -1.0 if prop in MINIMIZED else 1.0
    z = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    result, seen = SearchResult("gradient", prop), {}
    paths: list[list[str]] = [[] for _ in range(len(start))]
    for step in range(steps + 1):
        decoded = model.decode(z.detach(), GREEDY)
        _collect(result, decoded, step, seen)
        for path, s in zip(paths, decoded):
            if not path or path[-1] != s:
                path.append(s)
        if step == steps:
            break
        optimizer.zero_grad()
        value = sign * model.predict_at(z)[:, index]  # (N,)
        loss = -(value - prior_weight * 0.5 * z.pow(2).sum(-1)).sum()
        loss.backward()
        optimizer.step()
    result.trajectories = paths
    return _finish(result, seen)


class GaussianProcess:
    """Exact GP regression with an ARD RBF kernel and Gaussian noise; targets standardized internally."""

    def __init__(self, x: Tensor, y: Tensor, iterations: int = 100):
        self.x = x.double()
        # One scored point (`optimize --starts 1`) has no spread: unit scale, not torch's NaN std and its warning.
        spread = y.double().std() if len(y) > 1 else torch.ones((), dtype=torch.float64)
        self.mean, self.scale = y.double().mean(), spread.clamp_min(1e-6)
        self.y = (y.double() - self.mean) / self.scale
        d = x.shape[1]
        self.log_lengths = torch.full((d,), math.log(math.sqrt(d)), dtype=torch.float64, requires_grad=True)
        self.log_signal = torch.zeros((), dtype=torch.float64, requires_grad=True)
        self.log_noise = torch.tensor(math.log(0.1), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Adam([self.log_lengths, self.log_signal, self.log_noise], lr=0.05)
        for _ in range(iterations):
            optimizer.zero_grad()
            self._negative_log_marginal().backward()
            optimizer.step()
        with torch.no_grad():
            self.chol = torch.linalg.cholesky(self._covariance())
            self.alpha = torch.cholesky_solve(self.y[:, None], self.chol)

    def _kernel(self, a: Tensor, b: Tensor) -> Tensor:
        a, b = a / self.log_lengths.exp(), b / self.log_lengths.exp()
        return self.log_signal.exp() * torch.exp(-0.5 * torch.cdist(a, b).pow(2))

    def _covariance(self) -> Tensor:
        eye = torch.eye(len(self.x), dtype=torch.float64)
        return self._kernel(self.x, self.x) + (self.log_noise.exp() + 1e-6) * eye

    def _negative_log_marginal(self) -> Tensor:
        chol = torch.linalg.cholesky(self._covariance())
        alpha = torch.cholesky_solve(self.y[:, None], chol)
        return 0.5 * (self.y[:, None] * alpha).sum() + chol.diagonal().log().sum()

    @torch.no_grad()
    def predict(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation at x (M, D), in the targets' units."""
        k = self._kernel(x.double(), self.x)  # (M, N)
        mean = (k @ self.alpha).squeeze(-1)
        v = torch.cholesky_solve(k.T, self.chol)  # (N, M)
        var = (self.log_signal.exp() - (k * v.T).sum(-1)).clamp_min(1e-12)
        return mean * self.scale + self.mean, var.sqrt() * self.scale


def expected_improvement(mean: Tensor, std: Tensor, best: float) -> Tensor:
    """EI of maximizing: E[max(f - best, 0)] under f ~ N(mean, std^2)."""
    normal = torch.distributions.Normal(0.0, 1.0)
    u = (mean - best) / std
    return std * (u * normal.cdf(u) + normal.log_prob(u).exp())


def bayesian_optimisation(
    model: MoleculeModel,
    prop: str,
    start: Tensor,
    rounds: int = 10,
    batch: int = 20,
    candidates: int = 2000,
    seed: int = 0,
    invalid_score: float | None = None,
) -> SearchResult:
    """GP + expected improvement over latents, starting from the scored points ``start`` (N, D).

    Each round fits the GP to every point scored so far, draws ``candidates`` latents (prior draws and
    perturbations of the best points), decodes the ``batch`` with the highest EI and scores them with RDKit.
    An invalid decoding scores ``invalid_score`` (default: the worst score seen).
    """
    generator = torch.Generator().manual_seed(seed)
    result, seen = SearchResult("bayesian", prop), {}
    xs = start.clone()
    raw = _collect(result, model.decode(xs, GREEDY), 0, seen)
    for step in range(1, rounds + 1):
        values = [v for v in raw if v is not None]
        floor = invalid_score if invalid_score is not None else min((_objective(v, prop) for v in values), default=0.0)
        ys = torch.tensor([floor if v is None else _objective(v, prop) for v in raw], dtype=torch.float64)
        gp = GaussianProcess(xs, ys)
        top = xs[ys.argsort(descending=True)[:batch]]
        near = top.repeat(candidates // (2 * len(top)) + 1, 1)[: candidates // 2]
        near = near + 0.3 * torch.randn(near.shape, generator=generator)
        pool = torch.cat([torch.randn(candidates - len(near), xs.shape[1], generator=generator), near])
        mean, std = gp.predict(pool)
        chosen = pool[expected_improvement(mean, std, float(ys.max())).argsort(descending=True)[:batch]]
        raw += _collect(result, model.decode(chosen.float(), GREEDY), step, seen)
        xs = torch.cat([xs, chosen.float()])
    best_per_round = []
    for step in range(rounds + 1):
        found = [f.smiles for f in seen.values() if f.step <= step]
        best_per_round.append(max(found, key=lambda s: _objective(seen[s].score, prop)) if found else "")
    result.trajectories = [best_per_round]
    return _finish(result, seen)


def best_in_data(smiles: list[str], prop: str, n: int = 10) -> list[Found]:
    """The best ``n`` molecules of a data set by RDKit's value of ``prop``."""
    scored = [Found(s, v, 0) for s in smiles if (v := score(s, prop)) is not None]
    return sorted(scored, key=lambda f: -_objective(f.score, prop))[:n]


def top_latents(model: MoleculeModel, smiles: list[str], prop: str, n: int) -> tuple[Tensor, list[str]]:
    """Posterior means of the ``n`` best molecules of ``smiles`` (starting points of a search)."""
    best = best_in_data(smiles, prop, n)
    chosen = [f.smiles for f in best]
    return model.latents(chosen), chosen
