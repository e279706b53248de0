"""The contract every vaekit model obeys, written once.

A model is a :class:`BaseModel` subclass. It provides the parts:

- ``encode(x, y=None, check=True) -> q(z|x)``: a ``torch.distributions.Distribution`` with batch shape (B,);
- ``decode(z, y=None) -> p(x|z)``: a distribution whose batch shape is ``z.shape[:-1]``;
- ``prior``: p(z), an object with ``prior() -> Distribution`` and ``prior.sample(n, temperature) -> (n, D)``
  (a :class:`~vaekit.distributions.priors.Prior` module for the VAE);
- the attributes ``data_shape`` (shape of one example), ``latent_dim``, ``likelihood`` and ``conditioner``
  (None for an unconditional model);

and the base defines, in terms of those, what every consumer (training, evaluation, generation, the CLI)
relies on: ``forward`` (a typed :class:`~vaekit.models.output.VAEOutput`), ``check_input``, ``sample``,
``reconstruct``, ``log_importance_weights`` (the one formula :func:`log_weights`), ``save`` and ``load``, and
the declaration of the objectives the model supports (:meth:`BaseModel.check_objective`). A subclass overrides
a method only where its maths differs (the hierarchical VAE draws its groups top-down; the VQ-VAE's latent is a
grid of codes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.models.checks import check_data_batch
from vaekit.models.output import VAEOutput
from vaekit.registry import ConfigError

LogWeightsFn = Callable[[int], Tensor]

_PASS_Y = "this is a conditional model: pass the condition y (labels or attributes)"  # pragma: no mutate (text)
_PASS_Y_TO_GENERATE = "this is a conditional model: pass y to choose what to generate"  # pragma: no mutate (text)
_NO_Y = "this model is not conditional; it takes no y"  # pragma: no mutate (message text)


class ObjectiveMismatchError(ConfigError):
    """An objective was paired with a model it does not apply to."""


def log_weights(output: VAEOutput, x: Tensor) -> Tensor:
    """The importance weights' logarithms, log p(x|z) + log p(z) - log q(z|x), at the draws ``output.z``.

    This is the one place the formula is written: the IWAE bound, the likelihood estimator, the ELBO
    anomaly score and their per-value splits all use it.

    Args:
        output: a forward output (or one assembled from q(z|x), p(z), draws z and p(x|z)).
        x: the batch the output belongs to, (B, *data_shape).

    Returns:
        (S, B) for S draws per example, (B,) for one.
    """
    return output.p_x.log_prob(x) + output.p_z.log_prob(output.z) - output.q_z.log_prob(output.z)


@dataclass
class ModelExample:
    """A tiny instance of a model and a batch for it: what the model contract tests run on.

    Attributes:
        spec: a builder config, ``{"type": builder name, **arguments}`` (see :func:`vaekit.registry.build_model`;
            the data shape is ``x.shape[1:]``), or, for a model class without a builder, its own config
            ``{"type": registered model name, **constructor arguments}``.
        x: a batch of a few examples, (B, *data_shape) (B >= 4: the MMD of the WAE needs pairs).
        y: the conditions of a conditional model, else None.
        objectives: objective name -> constructor arguments to test with; None: every objective
            the model supports, with its default arguments.
    """

    spec: dict[str, Any]
    x: Tensor
    y: Tensor | None = None
    objectives: dict[str, dict[str, Any]] | None = field(default=None)

    def build(self) -> BaseModel:
        """The (untrained) model of this example, through its builder if ``spec`` names one."""
        from vaekit.registry import build, build_model, model_builders

        if self.spec.get("type") in model_builders():
            return build_model(self.spec, list(self.x.shape[1:]))
        return build("model", self.spec)


class BaseModel(nn.Module):
    """Base class of every vaekit model (see the module docstring for the contract).

    Writing a new model: subclass this, set ``data_shape``, ``latent_dim``, ``likelihood``,
    ``conditioner`` and ``prior`` in ``__init__``, implement ``encode`` and ``decode``, decorate the
    class with ``@register("model", name)`` so that saved models rebuild, and list the objectives it
    trains with in ``objective_names`` (names registered with ``register("objective", ...)``).

    The test hook: override the classmethod :meth:`examples` to return one or more
    :class:`ModelExample` (a builder config for a tiny model and a batch for it). The model contract
    tests (``tests/models/test_model_contract.py``) run every registered model class on its examples,
    once per objective it supports: the loss is finite, gradients reach every trainable parameter,
    save then load gives bit-identical outputs, ``sample``/``reconstruct`` have the right shapes, the
    log-likelihood is finite and at least the ELBO where the posterior has a density, and bad input
    raises a ValueError naming the problem. A registered model class without examples, or a registered
    builder that no example uses, fails those tests.

    Class attributes:
        objective_names: the registered objectives this model trains with.
        accepts_integer_input: integer batches (levels or tokens) are valid input for a discrete likelihood.
    """

    objective_names: ClassVar[tuple[str, ...]] = ("elbo", "iwae", "hierarchical_elbo", "wae")
    accepts_integer_input: ClassVar[bool] = True

    data_shape: tuple[int, ...]
    latent_dim: int

    # ---------------------------------------------------------------- the parts
    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:  # pragma: no mutate block
        """q(z|x[,y]), batch shape (B,). (Abstract: the pragma above keeps its message and defaults unmutated.)"""
        raise NotImplementedError(f"{type(self).__name__} must implement encode")

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z[,y]) for z of shape (..., D); the distribution's batch shape is z.shape[:-1]."""
        raise NotImplementedError(f"{type(self).__name__} must implement decode")  # pragma: no mutate (message)

    def forward(self, x: Tensor, y: Tensor | None = None, n_samples: int = 1, check: bool = True) -> VAEOutput:
        """Encode, draw z by reparameterization, decode.

        Args:
            x: a batch of data, (B, *data_shape).
            y: condition of a conditional model.
            n_samples: draws of z per example; with more than one, z is (S, B, D).
            check: validate the input (the training loop validates data once and skips this).
        """
        q_z = self.encode(x, y, check=check)
        z = q_z.rsample() if n_samples == 1 else q_z.rsample((n_samples,))
        return VAEOutput(q_z=q_z, p_z=self.prior(), z=z, p_x=self.decode(z, y))

    # ------------------------------------------------------------------ checks
    def check_input(self, x: Tensor, y: Tensor | None = None) -> None:
        """Raise ValueError naming the problem if ``x`` (and ``y``) cannot be fed to this model."""
        check_data_batch(x, self.data_shape, self.likelihood, allow_integer=self.accepts_integer_input)
        conditioner = self.conditioner
        if conditioner is not None:
            if y is None:
                raise ValueError(_PASS_Y)
            conditioner.check(y, x.shape[0])
        elif y is not None:
            raise ValueError(_NO_Y)

    def supported_objectives(self) -> tuple[str, ...]:
        """The registered objectives this model trains with (``objective_names`` unless a part rules some out)."""
        return tuple(self.objective_names)

    def check_objective(self, objective: Any) -> None:
        """Raise :class:`ObjectiveMismatchError` if ``objective`` (a registered objective or its name) does not
        apply to this model, naming the model and the objectives that do. Unregistered objectives (plain
        callables) are the caller's responsibility and pass."""
        name = objective if isinstance(objective, str) else getattr(type(objective), "_registry_name", None)
        if name is None:
            return
        supported = self.supported_objectives()
        if name not in supported:
            raise ObjectiveMismatchError(
                f"objective {name!r} does not apply to {self.describe()}; objectives that do: {list(supported)}"
            )

    def describe(self) -> str:
        """A short name for messages: the class and, where it matters, what rules objectives out."""
        return f"model {type(self).__name__}"

    # ------------------------------------------------------------- likelihoods
    def log_weights_given_posterior(self, q_z: Distribution, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """``log_importance_weights`` with q(z|x) already computed (``q_z = self.encode(x, y)``): shape (k, B)."""
        z = q_z.rsample((k,))  # (k, B, D), also for k = 1
        return log_weights(VAEOutput(q_z=q_z, p_z=self.prior(), z=z, p_x=self.decode(z, y)), x)

    def log_weights_sampler(self, x: Tensor, y: Tensor | None = None) -> LogWeightsFn:
        """A function n -> (n, B) log importance weights of the batch ``x``, for drawing them in chunks.

        By default the batch is encoded once here and each call draws only the samples (what the
        likelihood estimator uses); a model whose q(z|x) is not one distribution per example (the
        hierarchical VAE) overrides this.
        """
        q_z = self.encode(x, y, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        return lambda n: self.log_weights_given_posterior(q_z, x, n, y)

    def log_importance_weights(self, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): shape (k, B)."""
        return self.log_weights_sampler(x, y)(k)

    # -------------------------------------------------------------- generation
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _generation_condition(self, y: Tensor | None, n: int) -> Tensor | None:
        """The condition rows for generating n examples: one per example (a single one is repeated)."""
        conditioner = self.conditioner
        if conditioner is None:
            if y is not None:
                raise ValueError(_NO_Y)
            return None
        if y is None:
            raise ValueError(_PASS_Y_TO_GENERATE)
        y = torch.as_tensor(y, device=self._device())  # pragma: no mutate (device= is equivalent on CPU)
        if y.dim() == 0 or (y.dim() == 1 and y.is_floating_point()):
            y = y.unsqueeze(0)
        if y.shape[0] == 1:  # one condition for all n examples (a no-op for n = 1)
            y = y.expand(n, *y.shape[1:])
        conditioner.check(y, n)
        return y

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, y: Tensor | None = None, mean: bool = True) -> Tensor:
        """Draw n examples: z from the prior (spread scaled by ``temperature``), then decode.

        Args:
            n: number of examples.
            temperature: scale of the prior's spread (below 1 trades variety for quality).
            y: condition of a conditional model: one label/attribute row per example, or a single one for all.
            mean: return the likelihood's mean (True) or a draw from it.
        """
        y = self._generation_condition(y, n)
        z = self.prior.sample(n, temperature).to(self._device())
        p_x = self.decode(z, y)
        return p_x.mean if mean else p_x.sample()

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decode the posterior mean of each input: the likelihood's mean."""
        return self.decode(self.encode(x, y).mean, y).mean

    # --------------------------------------------------------------------- io
    def save(self, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (see :mod:`vaekit.io`)."""
        from vaekit.io import save_model

        return save_model(self, directory, extra)

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> BaseModel:
        """Load a model saved with :meth:`save` (no code runs from the files).

        Raises:
            vaekit.io.ModelFileError: not a vaekit model, or (called on a subclass) a model of another class.
        """
        from vaekit.io import ModelFileError, load

        model = load(directory, map_location)  # pragma: no mutate (map_location= is equivalent on CPU)
        if not isinstance(model, cls):
            raise ModelFileError(f"{directory} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    # ---------------------------------------------------------------- testing
    @classmethod
    def examples(cls) -> list[ModelExample]:
        """Tiny instances of this model for the contract tests (see the class docstring). None by default,
        which makes those tests fail for a registered model until it supplies some."""
        return []
