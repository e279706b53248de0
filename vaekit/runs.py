"""A training run folder: train from a config, evaluate, save and draw; and reopen it later.

Layout of a run folder::

    config.yaml          the full resolved config (rerun it with ``vaekit train config.yaml``)
    metrics.jsonl/.csv   per-epoch logs, and checkpoints/ (written by vaekit.train.fit)
    model/               the saved model (config.json + model.safetensors; the data preprocessing
                         is stored in its "extra" so that raw data can be encoded later)
    metrics.json         the final test evaluation (ELBO, importance-sampled NLL, bits/dim, active units)
    *.png                samples, reconstructions, interpolation, traversal, training curves, latent map
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vaekit import figures
from vaekit.config import RunConfig, TrainConfig, config_from_dict, model_spec, objective_spec, read_yaml
from vaekit.data import BUILTIN_DATASETS, DataError, Dataset, Preprocessing, Split, load_dataset, read_examples
from vaekit.data.labels import renumber_classes
from vaekit.io import ModelFileError, atomic_write_bytes, load, load_extra, save_model
from vaekit.models.output import SamplingUnavailableError
from vaekit.registry import ConfigError, build, build_model, check_model_arguments, default_objective
from vaekit.train.arguments import check_options
from vaekit.train.callbacks import Callback
from vaekit.train.checkpointing import has_checkpoint

RUN_CONFIG = "config.yaml"
MODEL_DIR = "model"
METRICS_FILE = "metrics.json"
FIGURE_FILES = {
    "samples": "samples.png",
    "reconstructions": "reconstructions.png",
    "interpolation": "interpolation.png",
    "traversal": "traversal.png",
    "training_curves": "training_curves.png",
    "latent_map": "latent_map.png",
}


def _fit() -> Callable[..., Any]:
    from vaekit.train import fit

    return fit


def fit_arguments(train: TrainConfig) -> tuple[dict[str, Any], TrainConfig]:
    """The keyword arguments for ``fit`` from the train section (whose options are ``fit``'s own), and the
    section with every null replaced by ``fit``'s default (what config.yaml records).

    Raises:
        ConfigError: an option ``fit`` would refuse (named), before anything is written.
    """
    defaults = {name: p.default for name, p in inspect.signature(_fit()).parameters.items()}
    arguments: dict[str, Any] = {}
    resolved = copy.deepcopy(train)
    for option in dataclasses.fields(train):
        value = getattr(train, option.name)
        if value is not None:
            arguments[option.name] = value
        elif _plain(defaults.get(option.name)):
            setattr(resolved, option.name, defaults.get(option.name))
    try:
        check_options(arguments)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"train: {error}") from error
    return arguments, resolved


def build_run_model(
    spec: dict[str, Any], data_shape: Any, objective_section: dict[str, Any], seed: int
) -> tuple[nn.Module, Any]:
    """The model a run's ``spec`` describes (weights drawn from ``seed``) and its objective, checked to apply.

    Raises:
        ConfigError: a size below 1, arguments the builder refuses, or an objective the model does not
            support, each named, before anything is written.
    """
    _check_sizes(spec)
    torch.manual_seed(seed)
    try:
        model = build_model(spec, data_shape)
    except (TypeError, ValueError, RuntimeError) as error:  # RuntimeError: e.g. a negative layer width
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"cannot build model {spec.get('type')!r}: {error}") from error
    objective = build("objective", objective_section)
    model.check_objective(objective)  # fails here, before anything is written, naming what applies
    return model, objective


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, dict))


def data_arguments(config: RunConfig) -> dict[str, Any]:
    """Keyword arguments of :func:`vaekit.data.load_dataset` from the data section."""
    d = config.data
    return {
        "name": None if d.path else d.name,  # the user's data is named after its file or folder, not the default
        "path": d.path,
        "data_dir": d.data_dir,
        "image_size": d.image_size,
        "channels": d.channels,
        "label_column": d.label_column,
        "validation": d.validation,
        "test": d.test,
        "limit": d.limit,
        "seed": d.split_seed,
    }


@dataclass
class Prepared:
    """Everything a run needs before anything is written: data, preprocessing, model, objective."""

    config: RunConfig
    dataset: Dataset
    preprocessing: Preprocessing
    model: nn.Module
    objective: Any
    fit_kwargs: dict[str, Any] = field(default_factory=dict)


def prepare_run(config: RunConfig) -> Prepared:
    """Load the data and build model and objective; the returned config is fully resolved.

    Raises:
        DataError: the data cannot be read (named).
        ConfigError: a bad model, objective or train option (named, with the valid ones).
    """
    dataset = load_dataset(**data_arguments(config))
    if len(dataset.train) == 0:
        raise DataError(f"dataset {dataset.name} has no training examples")
    if len(dataset.test) == 0:  # the run ends with a test evaluation: refuse before training, not after
        raise DataError(f"dataset {dataset.name} has no test examples to evaluate on: set data.test > 0 and give "
                        f"more examples (it has {len(dataset.train) + len(dataset.validation)})")  # fmt: skip
    source = {"image_size": config.data.image_size, "channels": config.data.channels}
    source["label_column"] = config.data.label_column
    preprocessing = Preprocessing.fit(dataset, config.data.binarize, config.data.standardize, **source)
    spec = model_spec(config, dataset.n_classes, dataset.is_image)
    model, objective = build_run_model(spec, dataset.data_shape, objective_spec(config), config.seed)
    fit_kwargs, train = fit_arguments(config.train)
    _try_one_batch(model, objective, preprocessing, dataset, spec.get("type"))
    resolved = copy.deepcopy(config)
    resolved.model = {"conditional": bool(config.model.get("conditional", False))}
    resolved.model.update({k: v for k, v in spec.items() if k != "n_classes"})
    resolved.objective = objective_spec(config)
    resolved.train = train
    return Prepared(resolved, dataset, preprocessing, model, objective, fit_kwargs)


def _check_sizes(spec: dict[str, Any]) -> None:
    """Refuse layer and latent sizes below 1 (``latent_dim``, ``hidden``, ``channels``, ``num_codes``, ...)."""
    for key, value in spec.items():
        sized = key.endswith(("_dim", "_dims", "channels", "_size")) or key in ("hidden", "num_codes")
        values = value if isinstance(value, list) else [value]
        if sized and any(isinstance(v, int) and not isinstance(v, bool) and v < 1 for v in values):
            raise ConfigError(f"model.{key} must be at least 1, got {value!r}")


def _try_one_batch(model: nn.Module, objective: Any, prep: Preprocessing, dataset: Dataset, name: Any) -> None:
    """Run the objective once on two training examples, so that settings the model cannot work with (a
    latent_dim of 0, say) are refused before anything is written. Random streams and the model's running
    statistics are left as they were (eval mode, no gradients, forked generators)."""
    x, transform = prep.train_inputs(dataset.train.x[:2])
    y = None if getattr(model, "conditioner", None) is None or dataset.train.y is None else dataset.train.y[:2]
    was_training = model.training
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.eval()
            objective(model, (transform(x) if transform is not None else x, y), 0)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        if isinstance(error, (ConfigError, DataError)):
            raise
        raise ConfigError(f"model {name!r} with these settings cannot process the data: {error}") from error
    finally:
        model.train(was_training)


def _unchanged(x: Tensor) -> Tensor:
    return x


def _labels_for(model: nn.Module, split: Split) -> Tensor | None:
    """Labels are fed to conditional models only."""
    if getattr(model, "conditioner", None) is None:
        return None
    if split.y is None:
        raise DataError("this is a conditional model but the data has no labels")
    return split.y


def _label_budget(model: nn.Module, x: Tensor, y: Tensor | None, config: RunConfig) -> tuple[Tensor, Tensor]:
    """Keep ``data.labels`` training labels (the rest become -1) and repeat the labelled examples so that
    they make ``data.labelled_share`` of an epoch."""
    from vaekit.data.labels import check_label_budget, keep_labels, oversample_labelled

    if not getattr(model, "learns_from_unlabelled", False):
        raise ConfigError(
            f"data.labels needs a semi-supervised model (e.g. model=m2); {config.model.get('type')!r} "
            "cannot train on examples without labels"
        )
    if y is None:
        raise DataError("data.labels is set but the data has no labels")
    check_label_budget(config.data.labels, getattr(model, "n_classes", 0))  # all the model's classes, present or not
    y = keep_labels(y, config.data.labels, config.data.split_seed)
    index = oversample_labelled(y, config.data.labelled_share)
    return x[index], y[index]


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write JSON atomically (NaN/inf become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    atomic_write_bytes(path, (json.dumps(clean(document), indent=2) + "\n").encode())


class RecordConfig(Callback):
    """Writes the run's ``config.yaml`` when training starts: after fit has accepted the checkpoint of a
    ``--resume``, so a refused resume (a changed model or data) leaves the run's own config as it was."""

    def __init__(self, out: Path, config: RunConfig):
        self.path, self.text = Path(out) / RUN_CONFIG, config.to_yaml()

    def on_train_start(self, state: Any) -> None:
        atomic_write_bytes(self.path, self.text.encode())


def _run_builder(config: RunConfig) -> str:
    """The model builder a run would use: ``model.type`` or the default of the run's kind (music, text and
    molecules, or images and tables)."""
    from vaekit.music.runs import MUSIC_MODEL_DEFAULTS, is_music_config
    from vaekit.text.domains import domain_for

    if is_music_config(config):
        default = MUSIC_MODEL_DEFAULTS["type"]
    elif (domain := domain_for(config)) is not None:
        default = domain.model_defaults["type"]
    else:
        default = "vae"
    return config.model.get("type", default)


def check_model_section(config: RunConfig) -> None:
    """Refuse model keys that the builder the run would use does not take, as training would, without reading
    the data (the builder is the one :func:`_run_builder` names).

    Raises:
        ConfigError: an unknown model type or key, with the valid ones listed.
    """
    # `conditional` is a key of every model section (it becomes n_classes or a property head), not an argument.
    check_model_arguments(_run_builder(config), [k for k in config.model if k not in ("type", "conditional")])


def check_objective_section(config: RunConfig) -> None:
    """Refuse an objective section that training would refuse when it builds the objective (an unknown type,
    key or value), without reading the data: the type defaults to the run's model builder's own objective.
    Whether the objective applies to the model is checked by training, which builds the model for the data.

    Raises:
        ConfigError: an unknown objective type or key (the valid ones listed), or a value it cannot take.
    """
    build("objective", {"type": default_objective(_run_builder(config)), **config.objective})


def evaluate_model(
    model: nn.Module, x: Tensor, y: Tensor | None, k: int, seed: int = 0, preprocessing: Preprocessing | None = None
) -> dict[str, Any]:
    """:func:`vaekit.evaluate.evaluate` (figures a model does not define are None).

    With ``preprocessing`` that dequantized grey levels for a continuous likelihood, bits/dim are those of the
    grey levels (:func:`grey_level_bits`), comparable with a discrete likelihood's; the NLL stays the density's.
    """
    from vaekit.evaluate import evaluate

    metrics = evaluate(model, x, y, k=k, seed=seed)
    offset = grey_level_bits(model, preprocessing)
    for key in ("bits_per_dim", "negative_elbo_bits_per_dim"):
        if metrics.get(key) is not None:
            metrics[key] += offset
    if hasattr(model, "classify") and y is not None:  # a semi-supervised model is also a classifier
        from vaekit.evaluate.probes import classifier_accuracy

        metrics["accuracy"] = classifier_accuracy(model, x, y)
    return metrics


def grey_level_bits(model: nn.Module, preprocessing: Preprocessing | None) -> float:
    """log2(levels) for a continuous density fitted to dequantized grey levels, else 0.

    Dequantization spreads grey level v over the cell [v, v + 1) / levels, of volume levels^-D, so the
    probability of the grey levels is about the density at the cell's centre times that volume: their bits/dim
    are the density's plus log2(levels). Without it a density's bits/dim are not comparable with a discrete
    likelihood's (8 bits/dim lower for 8-bit images).
    """
    if preprocessing is None or preprocessing.binarize != "dequantize" or not preprocessing.levels:
        return 0.0
    if getattr(getattr(model, "likelihood", None), "discrete_levels", None):  # already a discrete probability
        return 0.0
    return math.log2(preprocessing.levels)


def evaluation_notice(split: str, examples: int, k: int, then: str | None = None) -> str:
    """The status line a run logs before its last step, which shows no progress bar and can take minutes:
    the importance-sampled likelihood decodes ``k`` latent samples of every example."""
    after = f", then {then}" if then else ""
    counted = f"{examples:,} example{'' if examples == 1 else 's'}"
    return f"evaluating on the {split} split ({counted}, k={k} importance samples each){after}..."


def train_run(
    config: RunConfig, out: str | Path, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train, evaluate, save and draw a run into ``out``.

    Nothing is written until data, model, objective and options have all been checked.

    Returns:
        The test metrics (also in ``out/metrics.json``).
    """
    return train_prepared(prepare_run(config), out, resume, log)


def train_prepared(
    prepared: Prepared, out: str | Path, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """:func:`train_run` after :func:`prepare_run` (so a caller can look at the model in between)."""
    config, dataset, prep, model = prepared.config, prepared.dataset, prepared.preprocessing, prepared.model
    out = Path(out)
    x, transform = prep.train_inputs(dataset.train.x)
    y = _labels_for(model, dataset.train)
    if config.data.labels is not None:
        x, y = _label_budget(model, x, y, config)
    val_x = val_y = None
    if len(dataset.validation):
        val_x, val_y = prep.eval_inputs(dataset.validation.x), _labels_for(model, dataset.validation)
    if resume and not has_checkpoint(out):  # killed before its first checkpoint: nothing to lose
        log(f"no checkpoint in {out / 'checkpoints'} yet: starting the run from scratch")
        resume = False
    # Validation data is already in model form: fit's default (the training transform) must not apply again.
    kwargs = {**prepared.fit_kwargs, "run_dir": out, "resume": resume, "seed": config.seed, "transform": transform}
    kwargs["val_transform"] = _unchanged
    kwargs["callbacks"] = [RecordConfig(out, config)]
    out.mkdir(parents=True, exist_ok=True)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training {config.model['type']} ({n_params:,} parameters) on {dataset.name}: {len(dataset.train)} examples")
    torch.manual_seed(config.seed)
    history = _fit()(model, prepared.objective, x, y, val_x, val_y, **kwargs)
    model_dir = save_model(model, out / MODEL_DIR, extra={"data": prep.to_dict()})
    log(f"model saved in {model_dir}")
    test_x, test_y = prep.eval_inputs(dataset.test.x), _labels_for(model, dataset.test)
    then = "drawing the pictures" if config.evaluate.plots else None
    log(evaluation_notice("test", len(test_x), config.evaluate.k, then))
    metrics = evaluate_model(model, test_x, test_y, k=config.evaluate.k, seed=config.seed, preprocessing=prep)
    metrics = {"data": dataset.name, "split": "test", **metrics}
    write_json(out / METRICS_FILE, metrics)
    if config.evaluate.plots:
        draw_run_figures(model, prep, dataset, history, out, config.seed)
    return metrics


def draw_run_figures(
    model: nn.Module, prep: Preprocessing, dataset: Dataset, history: Any, out: Path, seed: int = 0
) -> list[Path]:
    """The run's standard figures (see :data:`FIGURE_FILES`), from the test split."""
    model.eval()
    split = dataset.test if len(dataset.test) else dataset.train
    x = prep.model_inputs(split.x)
    y = _labels_for(model, split)
    try:
        written = figures.draw_samples(model, prep, out / FIGURE_FILES["samples"], seed=seed)
    except SamplingUnavailableError:
        written = []  # e.g. a VQ-VAE before `vaekit train-prior`: the other figures still apply
    recon_y = None if y is None else y[:32]
    written += figures.draw_reconstructions(model, prep, x[:32], recon_y, out / FIGURE_FILES["reconstructions"])
    written += figures.draw_interpolations(
        model, prep, x, y, out / FIGURE_FILES["interpolation"], seed=seed, labels=split.y
    )
    dims = figures.most_active_dims(model, x, y)
    start_y = None if y is None else y[:1]
    written += figures.draw_traversal(model, prep, x[0], start_y, out / FIGURE_FILES["traversal"], dims)
    train_log = list(getattr(history, "train", []) or [])
    if train_log:
        from vaekit import plots

        validation = list(getattr(history, "validation", []) or [])
        written.append(plots.save_training_curves(out / FIGURE_FILES["training_curves"], train_log, validation))
    written += figures.draw_latent_map(model, prep, x, split.y, out / FIGURE_FILES["latent_map"])
    return written


# --------------------------------------------------------------- reopening runs
@dataclass
class LoadedModel:
    """A saved model with its preprocessing, and the run it came from (if any)."""

    model: nn.Module
    preprocessing: Preprocessing
    model_dir: Path
    run_dir: Path | None
    config: RunConfig | None


def open_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Open a run folder (holding ``model/`` and ``config.yaml``) or a saved model folder.

    Raises:
        ModelFileError: neither a run nor a model.
    """
    path = Path(path)
    if (path / MODEL_DIR / "config.json").is_file():
        model_dir, run_dir = path / MODEL_DIR, path
    elif (path / "config.json").is_file():
        model_dir, run_dir = path, (path.parent if (path.parent / RUN_CONFIG).is_file() else None)
    elif not path.exists():
        raise ModelFileError(f"no such run or model folder: {path}")
    else:
        raise ModelFileError(f"{path} is neither a run folder (with {MODEL_DIR}/) nor a saved model (config.json)")
    model = load(model_dir, map_location=device)
    extra = load_extra(model_dir).get("data")
    if extra:
        prep = Preprocessing.from_dict(extra)
    else:  # a model saved without its data description: its inputs are taken as they are
        prep = Preprocessing(binarize="none", data_shape=list(model.data_shape))
    config = config_from_dict(read_yaml(run_dir / RUN_CONFIG)) if run_dir is not None else None
    return LoadedModel(model, prep, model_dir, run_dir, config)


def load_data_for(loaded: LoadedModel, data: str | None = None, split: str = "test") -> Split:
    """Raw examples to feed a model: ``data`` (a built-in name or a path) or the run's own data.

    A path is read whole, in file order, with the image size, channels, label column and table
    columns the model was trained with; otherwise ``split`` of the dataset is taken. Labels are numbered
    as the model's classes (see :func:`model_labels`), whatever classes the data holds.

    Raises:
        DataError: unreadable data, an unknown split, or a class a model that takes or predicts labels does not know.
    """
    source = loaded.preprocessing.source
    if data is not None and Path(data).exists():
        channels, shape = source.get("channels", "auto"), tuple(loaded.model.data_shape)
        if channels == "auto" and Path(data).is_dir() and len(shape) == 3 and shape[0] in (1, 3):
            channels = "rgb" if shape[0] == 3 else "grey"  # as the model was trained, whatever this folder holds
        examples, classes, _ = read_examples(
            data,
            source.get("image_size"),
            channels,
            source.get("label_column"),
            loaded.preprocessing.columns,
        )
        return model_labels(loaded, examples, classes, str(data))
    if data is not None:
        looks_like_path = Path(data).suffix or "/" in data or "\\" in data
        if data not in BUILTIN_DATASETS and looks_like_path:  # not "unknown dataset ... (or set data.path)"
            raise DataError(f"no such data file or folder: {data}")
        config = RunConfig() if loaded.config is None else copy.deepcopy(loaded.config)
        config.data.name, config.data.path = data, None
    elif loaded.config is not None:
        config = loaded.config
    else:
        raise DataError(f"{loaded.model_dir} is a bare model without its run's config.yaml: pass --data")
    dataset = load_dataset(**data_arguments(config))
    splits = {"train": dataset.train, "validation": dataset.validation, "test": dataset.test}
    if split not in splits:
        raise DataError(f"unknown split {split!r}; valid: {list(splits)}")
    return model_labels(loaded, splits[split], dataset.class_names, dataset.name)


def model_labels(loaded: LoadedModel, examples: Split, classes: list[str] | None, what: str) -> Split:
    """``examples`` with labels numbered by the model's class names (stored with its preprocessing) rather than by
    the data's own class list ``classes``: a folder or table holding only some classes numbers them 0..k-1.

    Raises:
        DataError: a class that a model which takes or predicts labels (a CVAE, M2) does not know, named.
    """
    if examples.y is None or classes is None:
        return examples
    conditioner = getattr(loaded.model, "conditioner", None)
    strict = getattr(conditioner, "n_classes", None) is not None or hasattr(loaded.model, "classify")
    y = renumber_classes(examples.y, classes, loaded.preprocessing.class_names, strict, what)
    return dataclasses.replace(examples, y=y)


def check_fits(loaded: LoadedModel, examples: Split) -> None:
    """Raise DataError if the examples do not have the model's shape."""
    if tuple(examples.x.shape[1:]) != tuple(loaded.model.data_shape):
        raise DataError(
            f"the data has examples of shape {tuple(examples.x.shape[1:])} but the model expects "
            f"{tuple(loaded.model.data_shape)}"
        )
    if examples.levels != loaded.preprocessing.levels and loaded.preprocessing.levels is not None:
        raise DataError(
            f"the model was trained on images of {loaded.preprocessing.levels} grey levels; "
            f"this data has {examples.levels}"
        )


def labels_for(model: nn.Module, split: Split) -> Tensor | None:
    """Labels to pass to ``model`` (only conditional models take them)."""
    return _labels_for(model, split)
