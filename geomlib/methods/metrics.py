"""Sample-quality and diversity measures, and image similarity."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

__all__ = [
    "energy_distance",
    "mixture_log_density",
    "nearest_similarity",
    "pair_similarity",
    "pixel_vendi",
    "rbf_vendi",
    "vendi_score",
]


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


def pixel_vendi(images: np.ndarray) -> float:
    """Cosine Vendi of pixel vectors; the 1e-6 offset keeps an all-black image (strong guidance) defined."""
    return vendi_score(np.asarray(images).reshape(len(images), -1) + 1e-6)


def rbf_vendi(points: np.ndarray, bandwidth: float) -> float:
    """Vendi score with the kernel ``exp(-|x - y|^2 / (2 h^2))`` (vendi-score's ``score_K``)."""
    from vendi_score import vendi

    points = np.asarray(points, np.float64).reshape(len(points), -1)
    squared = ((points[:, None] - points[None]) ** 2).sum(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(vendi.score_K(np.exp(-squared / (2 * bandwidth**2))))


def mixture_log_density(points: np.ndarray, modes: np.ndarray, std: float) -> np.ndarray:
    """log-density of the equal-weight isotropic Gaussian mixture at ``points`` (N, D)."""
    points = np.asarray(points, np.float64)
    squared = ((points[:, None, :] - modes[None]) ** 2).sum(-1)
    d = points.shape[1]
    log_components = -0.5 * squared / std**2 - 0.5 * d * np.log(2 * np.pi * std**2)
    return logsumexp(log_components, axis=1) - np.log(len(modes))


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
