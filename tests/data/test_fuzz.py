"""Property-based fuzzing of the data readers: random bytes and random arrays, tables and images (empty files,
NaN, inf, wrong dtypes, zero or huge dimensions) are read or refused with a DataError (a ValueError), nothing else;
and `vaekit train` on such a file trains or exits 2 with one line, writing nothing."""

from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.data import DataError, load_dataset, read_examples

FUZZ = settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SUFFIXES = [".npy", ".npz", ".csv", ".png", ".jpg"]
DTYPES = ["uint8", "int64", "int8", "float32", "float64", "float16", "bool", "complex64", "<U3", "uint16"]
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=4)
specials = st.sampled_from([0.0, 1.0, -1.0, 255.0, 256.0, math.nan, math.inf, -math.inf, 1e30])


def _array(dtype: str, shape: list[int], fill: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=shape) * 100
    flat = base.reshape(-1)
    if flat.size:
        flat[rng.integers(0, flat.size)] = fill
    with np.errstate(invalid="ignore", over="ignore"):
        return base.astype(dtype) if dtype != "<U3" else base.astype(int).astype(dtype)


def _read(path) -> None:
    """Read the file as the CLI would: the examples, then a train/validation/test split."""
    try:
        examples, _, _ = read_examples(path)
        assert examples.x.shape[0] >= 1
        load_dataset(path=str(path), validation=0.2, test=0.2, seed=0)
    except DataError as error:  # the named error; DataError is a ValueError
        assert isinstance(error, ValueError) and str(error)


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=300))
def test_random_bytes_are_read_or_refused_with_a_data_error(tmp_path_factory, suffix, data):
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / f"data{suffix}"
    path.write_bytes(data)
    _read(folder if suffix in (".png", ".jpg") else path)


@FUZZ
@given(dtype=st.sampled_from(DTYPES), shape=shapes, fill=specials, seed=st.integers(0, 9), npz=st.booleans(),
       labels=st.one_of(st.none(), st.integers(0, 8)))  # fmt: skip
def test_random_arrays_are_read_or_refused_with_a_data_error(tmp_path_factory, dtype, shape, fill, seed, npz, labels):
    folder = tmp_path_factory.mktemp("arrays")
    x = _array(dtype, shape, fill, seed)
    if npz:
        path = folder / "data.npz"
        arrays = {"x": x} if labels is None else {"x": x, "y": np.arange(labels) % 3}
        np.savez(path, **arrays)
    else:
        path = folder / "data.npy"
        np.save(path, x)
    _read(path)


def test_a_header_promising_a_huge_array_is_refused(tmp_path):
    path = tmp_path / "huge.npy"
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**12, 784)})
    path.write_bytes(buffer.getvalue() + b"\0" * 64)  # the data itself is missing
    _read(path)


cells = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.none())


@FUZZ
@given(header=st.lists(st.text(min_size=0, max_size=4), min_size=0, max_size=4), rows=st.lists(st.lists(cells,
       max_size=4), max_size=6))  # fmt: skip
def test_random_tables_are_read_or_refused_with_a_data_error(tmp_path_factory, header, rows):
    path = tmp_path_factory.mktemp("tables") / "data.csv"
    lines = [",".join(header)] + [",".join("" if c is None else str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines))
    _read(path)


@FUZZ
@given(sizes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=4),
       mode=st.sampled_from(["L", "RGB", "RGBA", "1", "I;16", "P"]), truncate=st.integers(0, 3))  # fmt: skip
def test_random_images_are_read_or_refused_with_a_data_error(tmp_path_factory, sizes, mode, truncate):
    folder = tmp_path_factory.mktemp("images")
    for i, (height, width) in enumerate(sizes):
        buffer = io.BytesIO()
        Image.new(mode, (width, height), color=i * 40).save(buffer, format="PNG")
        data = buffer.getvalue()
        (folder / f"{i}.png").write_bytes(data[: len(data) // 2] if i == truncate else data)
    _read(folder)


TINY = ["--set", "train.epochs=1", "--set", "train.max_steps=1", "--set", "evaluate.k=2", "--set",
        "evaluate.plots=false", "--set", "train.progress=false", "--set", "model.hidden=[8]"]  # fmt: skip


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(dtype=st.sampled_from(DTYPES), shape=shapes, fill=specials, seed=st.integers(0, 9))
def test_train_on_a_random_array_file_trains_or_exits_2_with_one_line(tmp_path_factory, dtype, shape, fill, seed):
    folder = tmp_path_factory.mktemp("train")
    np.save(folder / "data.npy", _array(dtype, shape, fill, seed))
    out = folder / "run"
    result = CliRunner().invoke(app, ["train", *TINY, "--set", f"data.path={folder / 'data.npy'}", "--out", str(out)])
    if result.exit_code == 0:
        assert (out / "model" / "model.safetensors").is_file()
        return
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (dtype, shape, fill, result.output[-2000:], result.exception)
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    if "non-finite" not in lines[-1]:
        assert not out.exists(), sorted(p.name for p in out.iterdir())
