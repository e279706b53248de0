"""Open what ``vaekit explore`` is pointed at: a run folder, a saved model, or a saved anomaly detector.

This is the only part of the explorer that reads files, and it reads them once, at start-up, from
the paths given on the command line; nothing a request sends reaches it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.explore.explorer import ExploreError, Explorer
from vaekit.explore.views import ViewContext, view_for
from vaekit.io import load_extra

DETECTOR_KEY = "anomaly_detector"


def is_detector(path: str | Path) -> bool:
    """Whether ``path`` is a folder saved by :meth:`vaekit.anomaly.VAEDetector.save`."""
    path = Path(path)
    if not (path / "config.json").is_file():
        return False
    try:
        return DETECTOR_KEY in load_extra(path)
    except ValueError:
        return False


def open_explorer(
    path: str | Path,
    data: str | None = None,
    split: str = "test",
    max_points: int = 5000,
    sliders: int = 8,
    key: str | None = None,
) -> Explorer:
    """An :class:`Explorer` for a run folder, a saved model or a saved anomaly detector.

    Args:
        path: the folder.
        data: examples to explore: for a run, a built-in dataset name or a data path (default: the
            run's own data); for a detector, a .npy/.npz/.csv/.parquet file (required).
        split: which split of a run's dataset.
        max_points: explore at most this many examples (the first ones).
        sliders: latent dimensions that get a slider.
        key: the array of a .npz file (detectors).

    Raises:
        ModelFileError, DataError, ExploreError (all ValueErrors): named problems with the folder or data.
    """
    if max_points < 1:
        raise ExploreError(f"max_points must be positive, got {max_points}")
    from vaekit.text.model import is_text_model

    if is_detector(path):
        return _open_detector(Path(path), data, max_points, sliders, key)
    if is_text_model(path):
        return _open_text(Path(path), data, split, max_points, sliders)
    return _open_run(Path(path), data, split, max_points, sliders)


def _open_run(path: Path, data: str | None, split: str, max_points: int, sliders: int) -> Explorer:
    from vaekit.runs import check_fits, load_data_for, open_model

    loaded = open_model(path)
    examples = load_data_for(loaded, data, split)
    check_fits(loaded, examples)
    examples_x = examples.x[:max_points]
    labels = None if examples.y is None else examples.y[:max_points]
    prep = loaded.preprocessing
    x = prep.model_inputs(examples_x)
    feature_range = None
    if len(loaded.model.data_shape) == 1:
        raw = examples_x.reshape(len(examples_x), -1).double()
        feature_range = (raw.min(0).values.tolist(), raw.max(0).values.tolist())
    context = ViewContext(
        data_shape=tuple(loaded.model.data_shape),
        to_raw=prep.to_raw,
        columns=prep.columns,
        class_names=prep.class_names,
        feature_range=feature_range,
    )
    title = str(loaded.run_dir or loaded.model_dir)
    return Explorer(loaded.model, x, view_for(context), labels, prep.class_names, sliders, title=Path(title).name)


def _open_text(path: Path, data: str | None, split: str, max_points: int, sliders: int) -> Explorer:
    """A text run (or any sequence model saved with its tokenizer): lines of the run's corpus or of ``data``."""
    from vaekit.data.lines import LineReport
    from vaekit.text.examples import lines_for_run
    from vaekit.text.model import TextModel

    text_model = TextModel.load(path)
    lines, source = lines_for_run(path, data, split, LineReport())
    x = text_model.encode_texts(lines[:max_points], source=source)
    context = ViewContext(data_shape=tuple(text_model.model.data_shape), extra={"tokenizer": text_model.tokenizer})
    return Explorer(text_model.model, x, view_for(context), sliders=sliders, title=path.name)


def _open_detector(path: Path, data: str | None, max_points: int, sliders: int, key: str | None) -> Explorer:
    from vaekit.anomaly import VAEDetector
    from vaekit.anomaly.preprocessing import as_array
    from vaekit.data import read_data

    if data is None:
        raise ExploreError(f"{path} is an anomaly detector, which keeps no data: pass --data FILE to score")
    detector = VAEDetector.load(path)
    raw, _ = as_array(read_data(data, key))
    raw = raw[:max_points]
    x = torch.from_numpy(detector.preprocessor_.transform(raw))
    prep = detector.preprocessor_
    offset = torch.as_tensor(prep.offset, dtype=torch.float32)
    scale = torch.as_tensor(prep.scale, dtype=torch.float32)
    feature_range = None
    if prep.kind != "image":
        values = raw.reshape(len(raw), -1).astype(np.float64)
        feature_range = (values.min(0).tolist(), values.max(0).tolist())
        to_raw = lambda v: v * scale + offset  # noqa: E731  (undo the detector's standardization)
    else:
        to_raw = lambda v: v  # noqa: E731  (images are shown in model units, [0, 1])
    context = ViewContext(
        data_shape=tuple(detector.model_.data_shape), to_raw=to_raw, columns=prep.columns, feature_range=feature_range
    )
    return Explorer(detector.model_, x, view_for(context), sliders=sliders, detector=detector, raw=raw, title=path.name)
