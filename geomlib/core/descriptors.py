r"""The paper's three local descriptors, written once for every array library.

For a generator :math:`G: \mathbb{R}^d \to \mathbb{R}^n` and an input :math:`z`,
let :math:`A = \partial G / \partial z` (``n x d``) have singular values
:math:`\sigma_1 \ge \dots \ge \sigma_m` (``m = min(n, d)``). Only the non-zero
ones count, and "non-zero" is a stated relative threshold:
:math:`\sigma_i > \mathrm{rank\_tol} \cdot \sigma_1`.

- local scaling  :math:`\psi(z) = \sum_i \log \sigma_i`  (change of volume)
- local rank     :math:`\nu(z) = \exp(-\sum_i p_i \log p_i)`,
  :math:`p_i = \sigma_i / \sum_j \sigma_j`  (effective rank, Roy & Vetterli 2007)
- local complexity :math:`\delta(z)` = number of neurons whose pre-activation
  changes sign over the vertices :math:`z \pm r v_j` of a cross-polytope
  (Humayun et al., ICML 2024), summed over the layers counted.

Conventions for degenerate input: a Jacobian with no non-zero singular value
(the zero map) has ``psi = -inf``, ``nu = 0`` and ``rank = 0``. A neuron "is
on" where its pre-activation is ``> 0``.

The functions take NumPy, JAX or PyTorch arrays (through
``array_api_compat``), so the JAX backend runs them inside ``jit`` and the
PyTorch backend on its own tensors; the math lives only here.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace

__all__ = [
    "default_rank_tol",
    "local_complexity",
    "local_rank",
    "local_scaling",
    "numerical_rank",
]


def default_rank_tol(shape: tuple[int, int], dtype) -> float:
    """NumPy's ``matrix_rank`` rule: ``max(shape) * eps(dtype)``, relative to ``sigma_max``."""
    return float(max(shape) * np.finfo(np.dtype(dtype)).eps)


def _kept(sigma, rank_tol: float):
    """Mask of the singular values counted as non-zero, shape ``(..., m)``."""
    if not (isinstance(rank_tol, (int, float)) and 0.0 <= rank_tol < 1.0):
        raise ValueError(f"rank_tol must be a number in [0, 1); got {rank_tol!r}")
    xp = array_namespace(sigma)
    sigma_max = xp.max(sigma, axis=-1, keepdims=True)
    return (sigma > rank_tol * sigma_max) & (sigma > 0)


def numerical_rank(sigma, rank_tol: float):
    """Number of singular values above ``rank_tol * sigma_max`` (integer array, shape ``(...)``)."""
    xp = array_namespace(sigma)
    return xp.sum(xp.astype(_kept(sigma, rank_tol), xp.int32), axis=-1)


def local_scaling(sigma, rank_tol: float):
    """psi = sum of log of the non-zero singular values, shape ``(...)``; ``-inf`` if none."""
    xp = array_namespace(sigma)
    kept = _kept(sigma, rank_tol)
    log_sigma = xp.log(xp.where(kept, sigma, xp.ones_like(sigma)))  # log 1 = 0 for dropped ones
    psi = xp.sum(log_sigma, axis=-1)
    return xp.where(xp.any(kept, axis=-1), psi, xp.full_like(psi, -math.inf))


def local_rank(sigma, rank_tol: float):
    """nu = exp(entropy of sigma_i / sum_j sigma_j) over the non-zero singular values; 0 if none."""
    xp = array_namespace(sigma)
    kept = _kept(sigma, rank_tol)
    kept_sigma = xp.where(kept, sigma, xp.zeros_like(sigma))
    total = xp.sum(kept_sigma, axis=-1, keepdims=True)
    p = kept_sigma / xp.where(total > 0, total, xp.ones_like(total))
    p_log_p = xp.where(kept, p * xp.log(xp.where(kept, p, xp.ones_like(p))), xp.zeros_like(p))
    nu = xp.exp(-xp.sum(p_log_p, axis=-1))
    return xp.where(xp.any(kept, axis=-1), nu, xp.zeros_like(nu))


def local_complexity(preactivations):
    """Count the neurons whose sign is not the same at every vertex.

    ``preactivations`` has shape ``(V, ..., N)``: V polytope vertices first,
    neurons of one layer last. Returns integer counts of shape ``(...)``.
    """
    xp = array_namespace(preactivations)
    on = preactivations > 0
    changed = xp.any(on, axis=0) & xp.any(~on, axis=0)
    return xp.sum(xp.astype(changed, xp.int32), axis=-1)
