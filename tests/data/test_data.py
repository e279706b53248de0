"""Data: built-in splits, the user's images / arrays / tables, preprocessing, and errors that name the culprit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.data import (
    DataError,
    Preprocessing,
    Split,
    Standardizer,
    load_array_file,
    load_dataset,
    load_image_folder,
    load_table,
    read_examples,
    split_examples,
)


def _write_png(path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


# ------------------------------------------------------------------ built-in
def test_digits_split_sizes_labels_and_levels():
    ds = load_dataset("digits")
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (1000, 350, 447)
    assert ds.data_shape == (1, 8, 8) and ds.levels == 17 and ds.is_image
    assert ds.train.x.dtype == torch.uint8 and int(ds.train.x.max()) == 16
    assert ds.n_classes == 10 and set(ds.test.y.tolist()) == set(range(10))
    # The split is a partition of the 1,797 images: per-class counts add up to scikit-learn's.
    from sklearn.datasets import load_digits as sk_digits

    labels = torch.cat([ds.train.y, ds.validation.y, ds.test.y])
    assert torch.equal(labels.bincount(), torch.from_numpy(sk_digits().target).bincount())
    assert int(torch.cat([ds.train.x, ds.validation.x, ds.test.x]).sum()) == int(sk_digits().images.sum())


def test_unknown_dataset_lists_the_builtins():
    with pytest.raises(DataError, match="digits.*fashion-mnist.*mnist"):
        load_dataset("cifar")


def test_limit_caps_every_split():
    ds = load_dataset("digits", limit=50)
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (50, 50, 50)


# -------------------------------------------------------------------- images
def test_read_data_takes_an_image_folder_as_anomaly_detection_does(tmp_path):
    from vaekit.data import read_data

    pictures = np.random.default_rng(0).integers(0, 256, (4, 6, 5))
    for i, picture in enumerate(pictures):
        _write_png(tmp_path / "images" / f"{i}.png", picture)
    values = read_data(tmp_path / "images")
    assert values.dtype == np.uint8 and values.shape == (4, 1, 6, 5)
    np.testing.assert_array_equal(values[:, 0], pictures)  # the files in name order, pixels unchanged
    with pytest.raises(DataError, match="no such data file or folder"):
        read_data(tmp_path / "missing.csv")


def test_image_folder_with_class_subfolders_gives_labels(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            _write_png(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (6, 5)))
    x, y, classes = load_image_folder(tmp_path)
    assert x.shape == (6, 1, 6, 5) and x.dtype == torch.uint8
    assert classes == ["cat", "dog"] and y.tolist() == [0, 0, 0, 1, 1, 1]
    original = np.asarray(Image.open(tmp_path / "dog" / "2.png"))
    assert np.array_equal(x[5, 0].numpy(), original)


def test_image_folder_rgb_and_resize(tmp_path):
    _write_png(tmp_path / "a.png", np.full((10, 12, 3), 200))
    _write_png(tmp_path / "b.png", np.zeros((7, 7, 3)))
    x, y, classes = load_image_folder(tmp_path, image_size=4)
    assert x.shape == (2, 3, 4, 4) and y is None and classes is None
    assert int(x[0].min()) == 200 and int(x[1].max()) == 0


def test_mixed_sizes_without_resize_name_the_files(tmp_path):
    _write_png(tmp_path / "a.png", np.zeros((8, 8)))
    _write_png(tmp_path / "b.png", np.zeros((9, 8)))
    with pytest.raises(DataError, match=r"b\.png.*image_size"):
        load_image_folder(tmp_path)


def test_empty_folder_and_unreadable_image(tmp_path):
    with pytest.raises(DataError, match="contains no images"):
        load_image_folder(tmp_path)
    _write_png(tmp_path / "good.png", np.zeros((4, 4)))
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        load_image_folder(tmp_path)


# -------------------------------------------------------------------- arrays
def test_npz_with_labels_and_npy_images(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 4)
    got, labels, levels = load_array_file(tmp_path / "d.npz")
    assert torch.equal(got, torch.from_numpy(x)) and labels.tolist()[:5] == [0, 1, 2, 3, 0] and levels is None
    np.save(tmp_path / "i.npy", np.zeros((5, 6, 7, 3), dtype=np.uint8))  # channels-last images
    images, _, levels = load_array_file(tmp_path / "i.npy")
    assert images.shape == (5, 3, 6, 7) and levels == 256


def test_array_labels_that_are_not_0_to_k_minus_1_become_classes_named_by_their_values(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(40, 2, 2)).astype(np.uint8)
    np.savez(tmp_path / "789.npz", x=x, y=7 + np.arange(40) % 3)
    dataset = load_dataset(path=tmp_path / "789.npz", validation=0, test=0.25)
    assert dataset.n_classes == 3 and dataset.class_names == ["7", "8", "9"]  # not 10 classes, 7 of them empty
    y = 3 + 100 * (np.arange(40) % 10)  # 3, 103, ..., 903: sorted as numbers, not as text ("103" < "3")
    y[:4] = -1  # a missing label stays missing
    np.savez(tmp_path / "far.npz", x=x, y=y)
    examples, classes, _ = read_examples(tmp_path / "far.npz")
    assert classes == [str(3 + 100 * k) for k in range(10)]
    assert examples.y.tolist() == [-1] * 4 + [k % 10 for k in range(4, 40)]
    assert load_dataset(path=tmp_path / "far.npz").n_classes == 10  # not 904


def test_nan_in_array_is_located(tmp_path):
    x = np.zeros((4, 3), dtype=np.float32)
    x[2, 1] = np.nan
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(DataError, match=r"bad\.npy.*\(2, 1\)"):
        load_array_file(tmp_path / "bad.npy")


# -------------------------------------------------------------------- tables
def test_table_labels_and_errors_name_columns(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,kind\n1,2.5,x\n3,4.5,y\n5,6.5,x\n")
    x, y, columns, classes = load_table(tmp_path / "t.csv", label_column="kind")
    assert columns == ["a", "b"] and classes == ["x", "y"] and y.tolist() == [0, 1, 0]
    assert torch.allclose(x, torch.tensor([[1, 2.5], [3, 4.5], [5, 6.5]]))
    with pytest.raises(DataError, match=r"\['kind'\] are not numeric"):
        load_table(tmp_path / "t.csv")
    (tmp_path / "n.csv").write_text("a,b\n1,\n2,3\n")
    with pytest.raises(DataError, match=r"NaN.*b \(1 rows\)"):
        load_table(tmp_path / "n.csv")
    with pytest.raises(DataError, match="lacks the column"):
        load_table(tmp_path / "t.csv", label_column="kind", columns=["a", "c"])


def test_numeric_table_labels_sort_as_numbers(tmp_path):
    (tmp_path / "t.csv").write_text("a,kind\n1,10\n2,2\n3,3\n4,10\n")
    _, y, _, classes = load_table(tmp_path / "t.csv", label_column="kind")
    assert classes == ["2", "3", "10"] and y.tolist() == [2, 0, 1, 2]


def test_parquet_table(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame({"u": [1.0, 2.0], "v": [3, 4]}).to_parquet(tmp_path / "t.parquet")
    x, y, columns, _ = load_table(tmp_path / "t.parquet")
    assert columns == ["u", "v"] and y is None and x.shape == (2, 2)


def test_standardizer_is_zero_mean_unit_variance_and_inverts():
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1.0, 5.0, 0.1]) + 7
    x[:, 2] = 4.0  # a constant column is left at scale 1, not divided by zero
    s = Standardizer.fit(x)
    z = s(x)
    assert torch.allclose(z[:, :2].mean(0), torch.zeros(2), atol=1e-4)
    assert torch.allclose(z[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.all(z[:, 2] == 0)
    assert torch.allclose(Standardizer.from_dict(s.to_dict()).inverse(z), x, atol=1e-4)


def test_user_split_is_a_seeded_partition():
    examples = Split(torch.arange(100).float()[:, None], torch.arange(100) % 2, None)
    tr, va, te = split_examples(examples, 0.2, 0.1, seed=3)
    assert (len(tr), len(va), len(te)) == (70, 20, 10)
    ids = torch.cat([tr.x, va.x, te.x]).flatten().sort().values
    assert torch.equal(ids, torch.arange(100).float())
    assert torch.equal(split_examples(examples, 0.2, 0.1, seed=3)[0].x, tr.x)
    with pytest.raises(DataError, match="fractions"):
        split_examples(examples, 0.6, 0.5, seed=0)


# -------------------------------------------------------------- preprocessing
def test_dynamic_binarization_matches_intensities_and_eval_is_fixed():
    ds = load_dataset("digits", limit=200)
    prep = Preprocessing.fit(ds, "dynamic")
    x, transform = prep.train_inputs(ds.train.x)
    assert x.dtype == torch.uint8 and transform is not None
    torch.manual_seed(0)
    draws = torch.stack([transform(x) for _ in range(400)])
    assert set(draws.unique().tolist()) == {0.0, 1.0}
    # E[bernoulli(p)] = p: the average of many draws approaches the intensity x / 16.
    assert (draws.mean(0) - x.float() / 16).abs().max() < 0.12
    first, second = prep.eval_inputs(ds.test.x), prep.eval_inputs(ds.test.x)
    assert torch.equal(first, second) and set(first.unique().tolist()) == {0.0, 1.0}
    assert torch.allclose(prep.model_inputs(ds.test.x), ds.test.x.float() / 16)


def test_other_binarize_modes():
    ds = load_dataset("digits", limit=20)
    x = ds.train.x
    assert Preprocessing.fit(ds, "fixed").train_inputs(x)[1] is None
    none = Preprocessing.fit(ds, "none")
    assert torch.allclose(none.train_inputs(x)[0], x.float() / 16)
    deq = Preprocessing.fit(ds, "dequantize")
    _, transform = deq.train_inputs(x)
    noisy = transform(x)
    assert torch.all(noisy >= x.float() / 17) and torch.all(noisy < (x.float() + 1) / 17)
    with pytest.raises(DataError, match="binarize"):
        Preprocessing.fit(ds, "sometimes")


def test_feature_preprocessing_round_trips_through_its_dict(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "f.npy", (rng.normal(size=(60, 4)) * 3 + 2).astype(np.float32))
    ds = load_dataset(path=tmp_path / "f.npy", validation=0.2, test=0.2)
    prep = Preprocessing.fit(ds)  # float features: standardized by default
    assert prep.standardizer is not None and not ds.is_image
    again = Preprocessing.from_dict(prep.to_dict())
    z = again.model_inputs(ds.train.x)
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(again.to_raw(z), ds.train.x, atol=1e-4)
