r"""Editing and watermarking in the low-rank subspaces of the posterior-mean predictor's Jacobian.

At a mid noise level the x0-predictor :math:`\hat x_0(x_t)` of a diffusion
model has a low-rank Jacobian :math:`J = \partial \hat x_0 / \partial x_t =
U \Sigma V^\top` (Qu's tutorial slides, Dec. 2024; Chen et al. 2024). Two
tools read it:

- **LOCO Edit** (Chen, Zhang et al., "Exploring low-dimensional subspaces in
  diffusion models for controllable image editing", NeurIPS 2024): move
  :math:`x_t` along a top right singular vector :math:`v_i`, then denoise
  deterministically. To edit inside a region :math:`\Omega` only, take the top
  right singular vector of the masked Jacobian :math:`P_\Omega J` and project
  it onto the orthogonal complement of the top right singular vectors of
  :math:`P_{\Omega^c} J`, so that the edit moves the outside as little as
  possible (``masked_direction``). The directions can be found without the
  full Jacobian by a subspace iteration with Jacobian-vector and
  vector-Jacobian products (``subspace_iteration``).
- **Shallow Diffuse** (Li, Zhang & Qu, 2024): add a watermark pattern in the
  null space of :math:`J` (the right singular vectors whose singular values
  are small), where the x0-predictor barely sees it; the denoised image barely
  changes, and DDIM inversion of the image brings the pattern back
  (``null_space``, ``mark_direction``, ``watermark``, ``detection_score``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import mannwhitneyu

from ..core import seeds

__all__ = [
    "auc",
    "detection_score",
    "mark_direction",
    "masked_direction",
    "masked_direction_from_products",
    "null_space",
    "subspace_iteration",
    "top_directions",
    "watermark",
]


def top_directions(jacobian: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``rank`` top right singular vectors (columns, ``(d_in, rank)``) and all singular values."""
    _, sigma, vt = np.linalg.svd(np.asarray(jacobian, np.float64))
    return vt[:rank].T, sigma


def subspace_iteration(
    jvp: Callable, vjp: Callable, dim: int, rank: int, iterations: int, seed: int, oversample: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``rank`` right singular vectors and values of a map known only through products.

    jvp: ``V (dim, m) -> J V``; vjp: ``Y (out, m) -> J^T Y``. Randomized
    subspace (power) iteration on :math:`J^\\top J` (Halko, Martinsson & Tropp
    2011; the way LOCO Edit finds its directions without the Jacobian): ``V <-
    orth(J^T J V)``, then the SVD of the small ``J V``.
    """
    rng = seeds.rng(seed, "subspace-iteration")
    basis, _ = np.linalg.qr(rng.standard_normal((dim, rank + oversample)))
    for _ in range(iterations):
        basis, _ = np.linalg.qr(np.asarray(vjp(np.asarray(jvp(basis))), np.float64))
    _, sigma, vt = np.linalg.svd(np.asarray(jvp(basis), np.float64), full_matrices=False)
    return basis @ vt[:rank].T, sigma[:rank]


def masked_direction(jacobian: np.ndarray, inside: np.ndarray, outside_rank: int) -> np.ndarray:
    """LOCO Edit's local direction: the top right singular vector of the rows in ``inside`` (a boolean mask
    over the outputs), projected off the top ``outside_rank`` right singular vectors of the other rows.

    Returns a unit vector (``(d_in,)``); with ``outside_rank = 0`` the plain
    masked direction.
    """
    jacobian = np.asarray(jacobian, np.float64)
    inside = np.asarray(inside, bool).ravel()
    if inside.shape[0] != jacobian.shape[0] or not inside.any() or inside.all():
        raise ValueError("inside must mark some but not all of the Jacobian's rows (outputs)")
    _, _, vt_in = np.linalg.svd(jacobian[inside])
    direction = vt_in[0]
    if outside_rank:
        _, _, vt_out = np.linalg.svd(jacobian[~inside])
        outside = vt_out[:outside_rank].T  # (d_in, r)
        direction = direction - outside @ (outside.T @ direction)
    return direction / np.linalg.norm(direction)


def masked_direction_from_products(
    jvp: Callable,
    vjp: Callable,
    inside: np.ndarray,
    dim: int,
    outside_rank: int,
    iterations: int,
    seed: int,
) -> np.ndarray:
    """``masked_direction`` for a map known only through products (a large model's Jacobian).

    The masked Jacobians are ``P J`` (rows in ``inside`` kept) and ``(I - P) J``:
    ``jvp`` masked after, ``vjp`` masked before; their top right singular
    vectors come from ``subspace_iteration``.
    """
    inside = np.asarray(inside, bool).ravel()
    if not inside.any() or inside.all():
        raise ValueError("inside must mark some but not all of the map's outputs")

    def restricted(rows):
        keep = rows[:, None].astype(np.float64)
        return (lambda v: keep * np.asarray(jvp(v))), (lambda y: vjp(keep * np.asarray(y)))

    direction, _ = subspace_iteration(*restricted(inside), dim, 1, iterations, seed)
    direction = direction[:, 0]
    if outside_rank:
        outside, _ = subspace_iteration(*restricted(~inside), dim, outside_rank, iterations, seed + 1)
        direction = direction - outside @ (outside.T @ direction)
    return direction / np.linalg.norm(direction)


def null_space(jacobian: np.ndarray, tol: float) -> np.ndarray:
    """Right singular vectors (columns) whose singular values are at most ``tol`` times the largest."""
    _, sigma, vt = np.linalg.svd(np.asarray(jacobian, np.float64))
    keep = np.zeros(vt.shape[0], bool)
    keep[: len(sigma)] = sigma <= tol * sigma[0]
    keep[len(sigma) :] = True  # a wide Jacobian's extra right vectors have singular value 0
    return vt[keep].T


def mark_direction(
    pattern: np.ndarray, keep: np.ndarray | None = None, remove: np.ndarray | None = None
) -> np.ndarray:
    """The unit watermark direction: ``pattern`` projected onto the columns of ``keep`` (an orthonormal
    basis, e.g. ``null_space``) or off the columns of ``remove`` (e.g. the top right singular vectors,
    the form that scales to large models), or as it is."""
    direction = np.asarray(pattern, np.float64).ravel()
    if keep is not None and remove is not None:
        raise ValueError("give keep or remove, not both")
    if keep is not None:
        direction = keep @ (keep.T @ direction)
    if remove is not None:
        direction = direction - remove @ (remove.T @ direction)
    size, scale = np.linalg.norm(direction), np.linalg.norm(pattern)
    # A pattern (numerically) inside the removed span leaves only rounding error, whose direction
    # depends on the BLAS kernels: refuse it rather than normalise noise into a mark.
    if not size > 1e-8 * scale:
        raise ValueError(
            "pattern has no component outside the removed directions (or is zero): keep fewer "
            "directions in remove, or pass a basis that leaves room for the mark"
        )
    return direction / size


def watermark(x_t: np.ndarray, direction: np.ndarray, strength: float) -> np.ndarray:
    """``x_t`` plus ``strength`` times the unit ``direction`` (of ``mark_direction``), in ``x_t``'s shape."""
    return (np.asarray(x_t, np.float64).ravel() + strength * np.ravel(direction)).reshape(np.shape(x_t))


def detection_score(x_t: np.ndarray, direction: np.ndarray) -> float:
    """The detector: the component of a (recovered) noisy input along the unit watermark direction."""
    return float(np.asarray(x_t, np.float64).ravel() @ np.ravel(direction))


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of scores: P(positive > negative) + P(tie) / 2, i.e. Mann-Whitney's
    U over n m (scipy)."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    u = mannwhitneyu(positive, negative, alternative="two-sided").statistic
    return float(u / (len(positive) * len(negative)))
