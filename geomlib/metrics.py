"""Sample-quality measures."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["energy_distance"]


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance between two point sets (Szekely & Rizzo), in the points' units.

    ``sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|)``, with the V-statistic means
    over all pairs; zero iff the empirical distributions are equal, and
    comparable across models on the same data.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (N, D) arrays with the same D; got {x.shape} and {y.shape}")
    squared = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    return float(np.sqrt(max(squared, 0.0)))
