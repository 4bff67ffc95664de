"""On- and off-manifold regions of the plane, and descriptor contrasts between them.

The toy study's manifold M is the union of discs of radius ``radius`` around
the training points; its complement is the rest of a square box. We estimate
``E_M[phi] - E_notM[phi]`` by Monte Carlo with points drawn uniformly from M
and from the box minus M (exactly uniform, so overlapping discs are not
counted twice), and report the standard error beside each difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..core import seeds

__all__ = ["Contrast", "contrast", "grid_points", "on_manifold", "region_mean", "sample_on_off"]


def grid_points(size: int, limit: float) -> np.ndarray:
    """``size x size`` grid on ``[-limit, limit]^2``, row-major from the bottom, shape ``(size*size, 2)``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"grid_size must be an integer >= 2; got {size!r}")
    if not limit > 0:
        raise ValueError(f"grid_limit must be > 0; got {limit!r}")
    axis = np.linspace(-limit, limit, size, dtype=np.float32)
    xx, yy = np.meshgrid(axis, axis, indexing="xy")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def on_manifold(points: np.ndarray, centers: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask: which ``points`` lie within ``radius`` of some center."""
    distance, _ = cKDTree(centers).query(points, k=1)
    return distance <= radius


def sample_on_off(
    centers: np.ndarray, radius: float, limit: float, num: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``num`` points uniform on M (the union of discs) and ``num`` uniform on the box minus M.

    The box is ``[-limit, limit]^2``.
    """
    if not radius > 0:
        raise ValueError(f"manifold_radius must be > 0; got {radius!r}")
    rng = seeds.rng(seed, "on-off-points")
    tree = cKDTree(centers)
    on_parts, have = [], 0
    while have < num:
        # Uniform in a random disc, kept with probability 1 / (number of discs covering it):
        # the accepted points are uniform on the union.
        batch = 2 * (num - have) + 16
        angle = rng.uniform(0, 2 * np.pi, batch)
        rho = radius * np.sqrt(rng.uniform(0, 1, batch))
        pts = centers[rng.integers(0, len(centers), batch)] + np.stack(
            [rho * np.cos(angle), rho * np.sin(angle)], axis=1
        )
        cover = np.array([len(c) for c in tree.query_ball_point(pts, radius)])
        keep = rng.uniform(0, 1, batch) < 1.0 / np.maximum(cover, 1)
        on_parts.append(pts[keep])
        have += int(keep.sum())
    off_parts, have = [], 0
    while have < num:
        pts = rng.uniform(-limit, limit, (2 * (num - have) + 16, 2))
        pts = pts[~on_manifold(pts, centers, radius)]
        off_parts.append(pts)
        have += len(pts)
    on = np.concatenate(on_parts)[:num].astype(np.float32)
    off = np.concatenate(off_parts)[:num].astype(np.float32)
    return on, off


@dataclass(frozen=True)
class Contrast:
    difference: float  # E_M[phi] - E_notM[phi]
    stderr: float  # its standard error
    num_on: int
    num_off: int


def contrast(on_values: np.ndarray, off_values: np.ndarray) -> Contrast:
    """Mean on M minus mean off M, with the standard error of the difference (Welch)."""
    on = np.asarray(on_values, np.float64)
    off = np.asarray(off_values, np.float64)
    on, off = on[np.isfinite(on)], off[np.isfinite(off)]
    stderr = np.sqrt(on.var(ddof=1) / len(on) + off.var(ddof=1) / len(off))
    return Contrast(float(on.mean() - off.mean()), float(stderr), len(on), len(off))


def region_mean(points: np.ndarray, values: np.ndarray, centers: np.ndarray, radius: float) -> float:
    """Mean of ``values`` over the ``points`` within ``radius`` of any of ``centers``."""
    mask = on_manifold(points, centers, radius) & np.isfinite(values)
    if not mask.any():
        raise ValueError(f"no grid point lies within radius={radius} of the given centers; use a finer grid")
    return float(values[mask].mean())
