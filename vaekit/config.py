"""Run configs: YAML in and out, ``--set a.b=value`` overrides, and validation that names the bad key.

A run config has the sections ``seed``, ``data``, ``model``, ``objective``, ``train`` and
``evaluate``. ``data``, ``train`` and ``evaluate`` are typed dataclasses checked here;
``model`` and ``objective`` are ``{"type": name, **arguments}`` mappings that mirror a
registered model builder / objective and are validated by :func:`vaekit.build_model` /
:func:`vaekit.build`, which list the valid arguments of the named part.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vaekit.registry import ConfigError, builder_defaults, default_objective, model_builders


def _option(default: Any, help: str, factory: Any = None) -> Any:  # noqa: A002 - "help" reads best here
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DataConfig:
    """Where the data comes from and how it becomes model input."""

    name: str = _option(
        "digits",
        "built-in dataset: digits, fashion-mnist, mnist, ptb, dsprites, dsprites-colour, folk (unused with path)",
    )
    path: str | None = _option(
        None, "user data: a folder of images or MIDI files, a .npy/.npz file, a .csv/.parquet table, or a .txt file"
    )
    data_dir: str | None = _option(None, "folder holding the idx files of fashion-mnist or mnist")
    binarize: str = _option("dynamic", "integer images: dynamic, fixed, none (grey levels in [0, 1]) or dequantize")
    image_size: int | list[int] | None = _option(None, "resize user images to this size (one number or [H, W])")
    channels: str = _option("auto", "user images: auto, grey or rgb")
    label_column: str | None = _option(None, "the label column of a table")
    smiles_column: str | None = _option(None, "molecules in a CSV: the SMILES column (null: one named smiles)")
    properties: list[str] | None = _option(
        None, "molecules: properties the model's head learns, of qed, logp, sa, mw (null: qed, logp, sa)"
    )
    standardize: bool | None = _option(None, "standardize float features (null: yes for non-image float data)")
    validation: float = _option(0.1, "fraction held out for validation (user data and the idx training sets)")
    test: float = _option(0.1, "fraction held out for testing (user data only; built-ins have a test set)")
    limit: int | None = _option(None, "keep at most this many examples per split (quick trials)")
    tokenizer: str | dict[str, Any] | None = _option(
        None, "text/sequences: char, word or bpe, or a mapping with its options, e.g. {type: word, max_vocab: 10000}"
    )
    max_length: int | None = _option(None, "text/sequences: tokens per example, end token included (null: longest)")
    long_lines: str = _option("truncate", "text/sequences: lines over max_length: truncate (counted), drop or refuse")
    bars: int = _option(2, "music: bars of 16 sixteenth-note steps per window")
    transpose: int = _option(0, "music: augment training windows by every shift up to this many semitones")
    split_seed: int = _option(0, "seed of the train/validation/test split and of which examples keep their label")
    labels: int | None = _option(
        None, "semi-supervised models (m2): keep this many training labels, balanced per class; the rest are unlabelled"
    )
    labelled_share: float = _option(0.1, "with labels: repeat the labelled examples to make this share of an epoch")


@dataclass
class TrainConfig:
    """Arguments of :func:`vaekit.train.fit`; null means the training loop's own default."""

    epochs: int = _option(300, "passes over the training data")
    batch_size: int = _option(50, "examples per gradient step")
    lr: float = _option(1e-3, "learning rate")
    optimizer: str | None = _option(None, "optimizer name (e.g. adam, adamw)")
    weight_decay: float | None = _option(None, "weight decay")
    lr_schedule: Any = _option(None, "learning-rate schedule: a name or a mapping")
    grad_clip: float | None = _option(None, "clip the gradient norm to this")
    skip_grad_norm: float | None = _option(
        None, "skip updates whose gradient norm is above this or not finite (NVAE outlier skipping)"
    )
    max_steps: int | None = _option(None, "stop after this many optimizer steps (the last epoch is partial)")
    max_seconds: float | None = _option(None, "stop after this many seconds of training (the last epoch is partial)")
    patience: int | None = _option(None, "stop after this many epochs without validation improvement")
    checkpoint_every: int | str | None = _option(
        None, "also checkpoint inside epochs: every N steps (an integer) or so long ('90s', '10min', '1h')"
    )
    device: str | None = _option(None, "device: cpu, cuda, cuda:1, ...")
    precision: str | None = _option(None, "numeric precision: fp32, bf16, or fp16 (with loss scaling)")
    compile: bool | None = _option(None, "compile the model with torch.compile")
    progress: bool | None = _option(None, "show progress bars")


@dataclass
class EvaluateConfig:
    """The final evaluation on the test split."""

    k: int = _option(1000, "importance samples of the log-likelihood estimate")
    plots: bool = _option(True, "draw the PNGs (samples, reconstructions, ...) into the run folder")


LABELLED_MODELS = ("m2",)  # builders that take the data's n_classes without model.conditional
FEATURE_LIKELIHOOD = {"type": "gaussian", "variance": "learned"}


@dataclass
class RunConfig:
    """A whole training run."""

    seed: int = _option(0, "seed of initialisation, batches and binarization")
    data: DataConfig = _option(None, "data section", DataConfig)
    model: dict[str, Any] = _option(None, "model: {type: builder, conditional: bool, builder arguments}", dict)
    objective: dict[str, Any] = _option(None, "objective: {type: name, its arguments}", dict)
    train: TrainConfig = _option(None, "training section", TrainConfig)
    evaluate: EvaluateConfig = _option(None, "evaluation section", EvaluateConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dictionaries (what config.yaml holds)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        """The config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
SECTIONS: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "evaluate": EvaluateConfig}
FREE_SECTIONS = ("model", "objective")


# ------------------------------------------------------------------ type checks
def _type_name(hint: Any) -> str:
    if hint is Any:
        return "any value"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _coerce(value: Any, hint: Any) -> Any:
    """Integers given for floats become floats, so config.yaml shows one type per key."""
    takes_float = hint is float or (
        typing.get_origin(hint) in (typing.Union, types.UnionType) and float in typing.get_args(hint)
    )
    if takes_float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _build_section(name: str, cls: type, values: Any) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ConfigError(f"config section {name!r} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    arguments = {}
    for key, value in values.items():
        if key not in valid:
            raise ConfigError(f"unknown config key {name}.{key}; valid keys of {name}: {valid}")
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()) and _matches(1.0, hints[key]):
            value = float(value)  # YAML 1.1 reads 1e-3 as a string
        if not _matches(value, hints[key]):
            raise ConfigError(
                f"config key {name}.{key} must be {_type_name(hints[key])}, got {value!r} ({type(value).__name__})"
            )
        arguments[key] = _coerce(value, hints[key])
    return cls(**arguments)


def config_from_dict(document: dict[str, Any] | None) -> RunConfig:
    """Validate a nested dictionary and build the :class:`RunConfig`.

    Raises:
        ConfigError: an unknown key or a value of the wrong type (the key and the valid ones are named).
    """
    document = dict(document or {})
    valid = [f.name for f in dataclasses.fields(RunConfig)]
    unknown = [k for k in document if k not in valid]
    if unknown:
        raise ConfigError(f"unknown config section(s) {unknown}; valid sections: {valid}")
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"config key seed must be int, got {seed!r}")
    free: dict[str, dict[str, Any]] = {}
    for name in FREE_SECTIONS:
        value = document.get(name) or {}
        if isinstance(value, str):  # "model: vae" is short for {type: vae}
            value = {"type": value}
        if not isinstance(value, dict):
            raise ConfigError(f"config section {name!r} must be a mapping, got {type(value).__name__}")
        type_name = value.get("type")
        if type_name is not None and not isinstance(type_name, str):
            raise ConfigError(f"config key {name}.type must be a name (str), got {type_name!r}")
        free[name] = copy.deepcopy(value)
    conditional = free["model"].get("conditional", False)
    if not isinstance(conditional, bool):
        raise ConfigError(f"config key model.conditional must be bool, got {conditional!r}")
    return RunConfig(
        seed=seed,
        data=_build_section("data", DataConfig, document.get("data")),
        model=free["model"],
        objective=free["objective"],
        train=_build_section("train", TrainConfig, document.get("train")),
        evaluate=_build_section("evaluate", EvaluateConfig, document.get("evaluate")),
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> (["a", "b"], value parsed as YAML); ``model=NAME`` means ``model.type=NAME``.

    Raises:
        ConfigError: no ``=``, an empty key, or a value that is not valid YAML.
    """
    if "=" not in text:
        raise ConfigError(f"--set takes key=value (e.g. train.epochs=20), got {text!r}")
    key, raw = text.split("=", 1)
    path = [part.strip() for part in key.strip().split(".")]
    if not all(path):
        raise ConfigError(f"--set has an empty key in {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: the value {raw!r} is not valid YAML: {error}") from error
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads "1e-3" as a string
    if path[0] in FREE_SECTIONS and len(path) == 1 and isinstance(value, str):
        path = [path[0], "type"]
    return path, value


def apply_overrides(document: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``document`` with every ``key=value`` override applied (validated later)."""
    result = copy.deepcopy(document)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None and depth == 1 and path[0] == "model":
                # model.likelihood.variance=... starts from the builder's default likelihood.
                child = copy.deepcopy(_defaults(node.get("type", "vae")).get(part))
                node[part] = child
            if child is None:
                child = node[part] = {}
            if isinstance(child, str) and path[0] in FREE_SECTIONS:
                child = node[part] = {"type": child}  # model.likelihood=bernoulli, then .variance=...
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"--set {'.'.join(path)}: {where} is {child!r}, not a section")
            node = child
        if path[0] == "model" and path[1:] == ["type"] and node.get("type", "vae") != value:
            # A different model starts from that builder's defaults, not the previous model's arguments.
            kept = {k: v for k, v in node.items() if k == "conditional"}
            node.clear()
            node.update(kept)
        node[path[-1]] = value
    return result


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dictionary.

    Raises:
        ConfigError: a missing file, invalid YAML, or a document that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a mapping of config sections, got {type(document).__name__}")
    return document


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The config of ``path`` (or the defaults) with ``overrides`` applied, validated."""
    document = read_yaml(path) if path is not None else {}
    return config_from_dict(apply_overrides(document, list(overrides or [])))


def _defaults(builder: str) -> dict[str, Any]:
    """The defaults of a registered model builder; none for an unknown name (building it reports that)."""
    return builder_defaults(builder) if builder in model_builders() else {}


def model_spec(config: RunConfig, n_classes: int | None, image_data: bool) -> dict[str, Any]:
    """The model section resolved for the data: the builder's defaults (its signature is the one place they
    are written) filled in, ``conditional`` turned into ``n_classes``, and a Gaussian likelihood chosen for
    feature data when none is given.

    Raises:
        ConfigError: a conditional model for data without labels.
    """
    user = dict(config.model)
    name = user.get("type", "vae")
    conditional = user.pop("conditional", False)
    defaults = _defaults(name)
    spec = {"type": name, **defaults, **user}
    if not image_data and "likelihood" not in user and "likelihood" in defaults:
        spec["likelihood"] = dict(FEATURE_LIKELIHOOD)
    if conditional or name in LABELLED_MODELS:
        if n_classes is None:
            reason = "model.conditional is true" if conditional else f"model {name!r} learns the classes"
            raise ConfigError(f"{reason} but the data has no labels")
        spec["n_classes"] = n_classes
    return spec


def objective_spec(config: RunConfig) -> dict[str, Any]:
    """The objective section, its type defaulting to the model builder's own objective
    (``elbo`` for a VAE, ``vq`` for a VQ-VAE, ``wae`` for a WAE, ...)."""
    return {"type": default_objective(config.model.get("type", "vae")), **config.objective}


def describe_options() -> str:
    """Every typed config key with its default and help text (for ``vaekit config --help-keys``)."""
    lines = ["seed: 0  # " + RunConfig.__dataclass_fields__["seed"].metadata["help"]]
    for name, cls in SECTIONS.items():
        lines.append(f"{name}:")
        for f in dataclasses.fields(cls):
            default = yaml.safe_dump(f.default, default_flow_style=True).strip().removesuffix("...").strip()
            lines.append(f"  {f.name}: {default}  # {f.metadata['help']}")
    lines.append("model:  # {type: a registered model builder (default vae), conditional: bool, builder arguments}")
    lines.append("objective:  # {type: a registered objective (default: the model's own), its arguments}")
    return "\n".join(lines)
