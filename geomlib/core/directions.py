r"""The fixed random directions the descriptors probe a generator with.

``Sketch`` works on the output side: a fixed ``k x n`` matrix ``W`` with
orthonormal rows (QR of a seeded Gaussian matrix). The singular values of
``W A`` (k vector-Jacobian products, never the full Jacobian) stand in for
those of ``A``. They are equal only for ``k = n``; for ``k < n`` they shrink.
For a rank-``r`` Jacobian the shift of psi is exactly

.. math:: \psi_W - \psi = \tfrac12 \log\det\big((WU)^\top WU\big),

with ``U`` the left singular vectors, whatever the singular values are. With
``W`` uniformly random, ``(WU)^T WU`` is matrix-variate Beta(k/2, (n-k)/2),
so the expected shift is
:math:`\tfrac12\sum_{i=1}^{r}[\digamma(\tfrac{k-i+1}{2}) - \digamma(\tfrac{n-i+1}{2})]`
(:func:`expected_psi_shift`), close to :math:`\tfrac r2 \log(k/n)` when
``k >> r``.

``Polytope`` works on the input side: ``k`` fixed orthonormal directions
``v_j`` and a radius ``r``; local complexity looks at the vertices
``z +/- r v_j`` of the cross-polytope around each input.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import digamma

__all__ = ["Polytope", "Sketch", "expected_psi_shift", "polytope_from", "sketch_from"]


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _orthonormal_rows(rows: int, dim: int, seed: int) -> np.ndarray:
    """``rows x dim`` matrix with orthonormal rows, from the QR of a seeded Gaussian."""
    gaussian = np.random.default_rng(seed).standard_normal((dim, rows))
    q, _ = np.linalg.qr(gaussian)  # (dim, rows), orthonormal columns
    return q.T


@dataclass(frozen=True)
class Sketch:
    """Randomized sketch of the Jacobian's output side.

    k: rows of ``W`` (vector-Jacobian products per input); the paper uses 120.
    seed: seed of the Gaussian matrix whose QR gives ``W``.
    """

    k: int
    seed: int = 0

    def __post_init__(self):
        _check_int("Sketch.k", self.k, 1)
        _check_int("Sketch.seed", self.seed, 0)

    def matrix(self, n: int, dtype=np.float32) -> np.ndarray:
        """``W``, shape ``(k, n)``, orthonormal rows; the same for every input and backend."""
        if self.k > n:
            raise ValueError(
                f"Sketch.k={self.k} exceeds the generator's output dimension n={n}; "
                f"use k <= {n} (k = n gives the exact singular values)"
            )
        return _orthonormal_rows(self.k, n, self.seed).astype(dtype)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Polytope:
    """Cross-polytope around each input for local complexity.

    k: number of orthonormal directions (2k vertices); the paper uses 4.
    r: radius (distance from the input to each vertex); the paper uses 1e-4 for Stable Diffusion.
    seed: seed of the random orthonormal directions.
    include_center: also evaluate the input itself (2k + 1 points), as some reference code does.
    """

    k: int = 4
    r: float = 1e-4
    seed: int = 0
    include_center: bool = False

    def __post_init__(self):
        _check_int("Polytope.k", self.k, 1)
        _check_int("Polytope.seed", self.seed, 0)
        if (
            isinstance(self.r, bool)
            or not isinstance(self.r, (int, float))
            or not (math.isfinite(self.r) and self.r > 0)
        ):
            raise ValueError(f"Polytope.r must be a finite number > 0; got {self.r!r}")

    def directions(self, d: int) -> np.ndarray:
        """``v_1..v_k`` as rows, shape ``(k, d)``, orthonormal."""
        if self.k > d:
            raise ValueError(f"Polytope.k={self.k} exceeds the input dimension d={d}; use k <= {d}")
        return _orthonormal_rows(self.k, d, self.seed)

    def offsets(self, d: int, dtype=np.float32) -> np.ndarray:
        """Vertex offsets ``[+r v_1, ..., +r v_k, -r v_1, ..., -r v_k (, 0)]``, shape ``(V, d)``."""
        v = self.r * self.directions(d)
        parts = [v, -v] + ([np.zeros((1, d))] if self.include_center else [])
        return np.concatenate(parts).astype(dtype)

    @property
    def num_points(self) -> int:
        return 2 * self.k + int(self.include_center)

    def as_dict(self) -> dict:
        return asdict(self)


def expected_psi_shift(n: int, k: int, rank: int) -> float:
    """Mean of (sketched psi - exact psi) over random ``W`` for a rank-``rank`` Jacobian.

    Exact for ``rank <= k <= n`` (matrix-variate Beta); see the module docstring.
    """
    if not 1 <= rank <= k <= n:
        raise ValueError(f"need 1 <= rank <= k <= n; got rank={rank}, k={k}, n={n}")
    i = np.arange(1, rank + 1)
    return float(0.5 * np.sum(digamma((k - i + 1) / 2) - digamma((n - i + 1) / 2)))


# --- one constructor for the probes a notebook's settings ask for ----------------------------------------


def sketch_from(config, seed: int | None = None, k: int | None = None) -> Sketch | None:
    """The sketch of a config: ``k`` rows (default ``config.sketch_k``; None: exact Jacobians) from the
    stream ``(seed, "sketch")`` (default seed: ``config.seed``)."""
    from . import seeds

    k = config.sketch_k if k is None else k
    if k is None:
        return None
    return Sketch(k=k, seed=seeds.derive(config.seed if seed is None else seed, "sketch"))


def polytope_from(config, seed: int | None = None) -> Polytope:
    """The polytope of a config: ``polytope_k`` directions of radius ``polytope_r`` from the stream
    ``(seed, "polytope")`` (default seed: ``config.seed``; a notebook with several training seeds passes
    the model's own)."""
    from . import seeds

    return Polytope(
        k=config.polytope_k,
        r=config.polytope_r,
        seed=seeds.derive(config.seed if seed is None else seed, "polytope"),
    )
