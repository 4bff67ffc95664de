"""Small offline datasets.

- The Datasaurus "dino": 142 points from Matejka & Fitzmaurice, "Same Stats,
  Different Graphs", CHI 2017 (``data/datasaurus_dino.tsv``), rescaled as in
  the widely used 2D-DDPM toy (tiny-diffusion): ``x/54 - 1``, ``y/48 - 1``,
  times 4, so the points lie in about ``[-4, 4]^2``.
- A mixture of nine Gaussians with equal weights on a 3x3 grid of modes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import data_dir

__all__ = ["TOY_DATASETS", "load_dino", "nine_gaussian_modes", "sample_nine_gaussians", "toy_dataset"]

TOY_DATASETS = ("dino", "nine_gaussians")


def load_dino(path: str | Path | None = None) -> np.ndarray:
    """The 142 dino points, rescaled; float32, shape ``(142, 2)``."""
    path = Path(path) if path is not None else data_dir() / "datasaurus_dino.tsv"
    if not path.is_file():
        raise FileNotFoundError(
            f"the Datasaurus dino file is missing at {path}; it ships with the project in data/"
        )
    table = np.loadtxt(path, delimiter="\t", skiprows=1, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 2:
        raise ValueError(f"{path} must have two tab-separated columns x, y; got shape {table.shape}")
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
    rng = np.random.default_rng(seed)
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
