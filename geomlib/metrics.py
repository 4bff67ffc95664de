"""Sample-quality measures."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["energy_distance", "nearest_similarity", "pair_similarity", "vendi_score"]


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


def vendi_score(features: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng, 2023) with the cosine-similarity kernel, via the vendi-score package.

    ``exp`` of the entropy of the eigenvalues of ``K / n``, ``K`` the cosine
    similarities of the rows of ``features`` (``(n, ...)``, flattened): the
    effective number of distinct samples, between 1 and ``n``.
    """
    from vendi_score import vendi

    features = np.asarray(features, np.float64).reshape(len(features), -1)
    if len(features) < 1:
        raise ValueError("vendi_score needs at least one sample")
    if np.any(np.linalg.norm(features, axis=1) == 0):
        raise ValueError("vendi_score: a sample has zero norm, so its cosine similarity is undefined")
    with warnings.catch_warnings():  # vendi-score 0.0.3 names scipy.sparse.csr, deprecated in SciPy 1.8+
        warnings.simplefilter("ignore", DeprecationWarning)
        # The dual form (d x d) equals the n x n one; use whichever matrix is smaller.
        if features.shape[1] < len(features):
            return float(vendi.score_dual(features, normalize=True))
        return float(vendi.score_X(features, normalize=True))


def _unit_rows(images: np.ndarray) -> np.ndarray:
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    return flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-12)


def nearest_similarity(images: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of each image (flattened) to its most similar reference image, and its index."""
    similarity = _unit_rows(images) @ _unit_rows(reference).T
    nearest = similarity.argmax(axis=1)
    return similarity[np.arange(len(images)), nearest], nearest


def pair_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``a[i]`` and ``b[i]`` (flattened)."""
    return np.sum(_unit_rows(a) * _unit_rows(b), axis=1)
