"""Registries of named parts, and the config capture that makes every part rebuildable.

A part class decorated with :func:`register` records the arguments it was built with,
so ``part.config()`` returns ``{"type": name, **arguments}`` and
``build(kind, config)`` rebuilds an identical (untrained) part. Arguments that are
themselves registered parts are stored as nested configs. This is what lets a saved
model be a JSON file plus a safetensors file, with no pickle.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from torch import nn

T = TypeVar("T", bound=type)

_REGISTRIES: dict[str, dict[str, type]] = {}


class ConfigError(ValueError):
    """A config names an unknown part, or gives arguments the part does not take."""


def _to_config_value(value: Any) -> Any:
    if hasattr(value, "config") and hasattr(type(value), "_registry_kind"):
        return {"kind": type(value)._registry_kind, **value.config()}
    if isinstance(value, tuple):
        return [_to_config_value(v) for v in value]
    if isinstance(value, list):
        return [_to_config_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_config_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"argument of type {type(value).__name__} cannot be stored in a config; "
        "pass plain numbers, strings, lists or registered parts"
    )


def _from_config_value(value: Any) -> Any:
    if isinstance(value, dict) and "kind" in value and "type" in value:
        spec = dict(value)
        kind = spec.pop("kind")
        return build(kind, spec)
    if isinstance(value, list):
        return [_from_config_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_config_value(v) for k, v in value.items()}
    return value


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator: register ``cls`` as part ``name`` of ``kind`` and record its arguments.

    Args:
        kind: the family of part ("encoder", "decoder", "prior", "likelihood", "model", ...).
        name: the name configs and the CLI use for it.
    """

    def decorate(cls: T) -> T:
        table = _REGISTRIES.setdefault(kind, {})
        if name in table and table[name] is not cls:
            raise ValueError(f"{kind} {name!r} is already registered to {table[name].__name__}")
        table[name] = cls
        cls._registry_kind = kind
        cls._registry_name = name
        original_init = cls.__init__
        signature = inspect.signature(original_init)

        @functools.wraps(original_init)
        def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop("self")
            for pname, param in signature.parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(arguments.pop(pname, {}))
            original_init(self, *args, **kwargs)
            # Only the outermost registered __init__ records (subclass calls super()).
            if type(self) is cls:
                object.__setattr__(self, "_config_arguments", arguments)

        cls.__init__ = recording_init

        def config(self: Any) -> dict[str, Any]:
            args = getattr(self, "_config_arguments", None)
            if args is None:
                raise TypeError(f"{type(self).__name__} was not built through its registered class")
            return {"type": type(self)._registry_name, **{k: _to_config_value(v) for k, v in args.items()}}

        cls.config = config
        return cls

    return decorate


def registered(kind: str) -> dict[str, type]:
    """The registered parts of one kind, by name."""
    return dict(_REGISTRIES.get(kind, {}))


def build(kind: str, spec: dict[str, Any] | str) -> Any:
    """Build a registered part from ``{"type": name, **arguments}`` (or just a name).

    Raises:
        ConfigError: unknown kind or name (the valid names are listed), or bad arguments.
    """
    if isinstance(spec, str):
        spec = {"type": spec}
    spec = dict(spec)
    spec.pop("kind", None)
    table = _REGISTRIES.get(kind)
    if table is None:
        raise ConfigError(f"unknown kind of part {kind!r}; known: {sorted(_REGISTRIES)}")
    name = spec.pop("type", None)
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; valid {kind}s: {sorted(table)}")
    cls = table[name]
    # A part without an __init__ of its own (e.g. the vq objective) takes no arguments, not object's *args/**kwargs.
    own_init = inspect.unwrap(cls.__init__) is not object.__init__
    params = inspect.signature(cls.__init__).parameters if own_init else {}
    takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = [k for k in spec if k not in valid]
    if unknown and not takes_var_kw:
        raise ConfigError(f"{kind} {name!r} got unknown argument(s) {unknown}; valid arguments: {valid}")
    arguments = {k: _from_config_value(v) for k, v in spec.items()}
    try:
        return cls(**arguments)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:  # e.g. float("abc") of a number argument given as a word
        raise ConfigError(f"cannot build {kind} {name!r}: {error}") from error


class Part(nn.Module):
    """Base class of registered parts; ``config()`` is added by :func:`register`."""

    def config(self) -> dict[str, Any]:  # pragma: no cover - replaced by register()
        raise NotImplementedError


_BUILDERS: dict[str, Callable[..., Any]] = {}
_DEFAULT_OBJECTIVES: dict[str, str] = {}
_MIRRORS: dict[str, Callable[..., Any]] = {}
_NOT_ARGUMENTS = ("self", "data_shape")


def register_builder(
    name: str, objective: str = "elbo", mirrors: Callable[..., Any] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model builder ``f(data_shape, **arguments) -> model`` under ``name``.

    Builders are what configs and the CLI name with ``model: {type: name, ...}``; each takes
    the data's shape first and its own keyword arguments (e.g. ``latent_dim``, ``n_classes``).

    Args:
        name: the name configs use.
        objective: the registered objective a config uses when it names none.
        mirrors: the function or class the builder passes its other keyword arguments (``**arguments``)
            on to. Its signature is then the one place those arguments and their defaults are written:
            a preset states only what it changes (see :func:`builder_arguments`).
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        if name in _BUILDERS and _BUILDERS[name] is not function:
            raise ValueError(f"model builder {name!r} is already registered")
        _BUILDERS[name] = function
        _DEFAULT_OBJECTIVES[name] = objective
        if mirrors is not None:
            _MIRRORS[name] = mirrors
        return function

    return decorate


def default_objective(builder: str) -> str:
    """The objective a model built by ``builder`` trains with unless a config names another."""
    return _DEFAULT_OBJECTIVES.get(builder, "elbo")


def model_builders() -> dict[str, Callable[..., Any]]:
    """The registered model builders, by name."""
    return dict(_BUILDERS)


def _named_parameters(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    kinds = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    params = inspect.signature(function).parameters.values()
    return {p.name: p for p in params if p.name not in _NOT_ARGUMENTS and p.kind not in kinds}


def builder_arguments(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments the builder ``name`` takes, with their defaults: its own, then those of what it
    passes the rest on to (``mirrors``, followed through), the builder's own default winning.

    Raises:
        ConfigError: unknown builder (valid ones listed).
    """
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model {name!r}; valid models: {sorted(_BUILDERS)}")
    arguments = _named_parameters(_BUILDERS[name])
    target = _MIRRORS.get(name)
    while target is not None:
        for key, param in _named_parameters(target).items():
            arguments.setdefault(key, param)
        mirrored = [n for n, f in _BUILDERS.items() if f is target]
        target = _MIRRORS.get(mirrored[0]) if mirrored else None
    return arguments


def builder_defaults(name: str) -> dict[str, Any]:
    """The default value of every argument of builder ``name`` that has one (tuples as lists, as in a config)."""

    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, (tuple, list)) else value

    return {
        key: plain(param.default)
        for key, param in builder_arguments(name).items()
        if param.default is not inspect.Parameter.empty
    }


def build_model(spec: dict[str, Any], data_shape: Any) -> Any:
    """Build a model from ``{"type": builder name, **arguments}`` for data of ``data_shape``.

    Raises:
        ConfigError: unknown builder (valid ones listed) or an argument it does not take.
    """
    spec = dict(spec)
    name = spec.pop("type", "vae")
    check_model_arguments(name, spec)
    return _BUILDERS[name](data_shape, **spec)


def check_model_arguments(name: str, arguments: Iterable[str]) -> None:
    """Refuse argument names the model builder ``name`` does not take.

    Raises:
        ConfigError: unknown builder or unknown argument(s), with the valid ones listed.
    """
    valid = list(builder_arguments(name))
    unknown = [k for k in arguments if k not in valid]
    if unknown:
        raise ConfigError(f"model {name!r} got unknown argument(s) {unknown}; valid arguments: {valid}")
