"""The hidden Gaussian structure of diffusion denoisers, and mixtures of low-rank Gaussians: the math.

From "Understanding Generalizability of Diffusion Models Requires Rethinking
the Hidden Gaussian Structure" (Li, Dai & Qu, NeurIPS 2024) and the
mixture-of-low-rank-Gaussians (MoLRG) results around it (Wang et al., 2024):

- ``GaussianDenoiser``: the closed-form posterior mean ``E[x_0 | x_t]`` when
  ``x_0 ~ N(mu, Sigma)`` (a Wiener filter), per DDPM timestep.
- similarity-based generalization and reproducibility scores (Zhang et al.,
  ICML 2024), the copy criterion of Yoon et al. (2023), the linearity score
  and a least-squares linear distillation of a denoiser.
- ``MoLRG``: K orthogonal rank-r subspaces in R^d with Gaussian coefficients;
  its noisy density, score and posterior mean in closed form.

Timesteps follow ``geomlib.models.diffusion.DDPMSchedule``: ``x_t = s_t x_0 + sigma_t
eps`` with ``s_t = sqrt(alpha_bar_t)`` and ``sigma_t = sqrt(1 - alpha_bar_t)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..core import seeds
from ..models.diffusion import DDPMSchedule
from .metrics import nearest_similarity, pair_similarity

__all__ = [
    "GaussianDenoiser",
    "MoLRG",
    "copy_ratio",
    "distill_linear",
    "generalization_score",
    "linearity_score",
    "noised",
    "relative_error",
    "reproducibility_score",
    "scales",
]


def scales(schedule: DDPMSchedule, t: int) -> tuple[float, float]:
    """``(s_t, sigma_t) = (sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t))``."""
    schedule.check_timestep(t)
    abar = float(schedule.alpha_bars[t])
    return float(np.sqrt(abar)), float(np.sqrt(1.0 - abar))


@dataclass
class GaussianDenoiser:
    """The optimal denoiser of ``N(mu, C)`` data, ``mu + s C (s^2 C + sigma^2 I)^-1 (x_t - s mu)``."""

    mean: np.ndarray  # (d,)
    eigenvalues: np.ndarray  # (d,) of the covariance, clipped at 0
    eigenvectors: np.ndarray  # (d, d), columns

    @classmethod
    def fit(cls, data: np.ndarray) -> GaussianDenoiser:
        """From the empirical mean and covariance (1/N normalization) of ``data`` (N, d)."""
        data = np.asarray(data, np.float64).reshape(len(data), -1)
        mean = data.mean(0)
        cov = (data - mean).T @ (data - mean) / len(data)
        values, vectors = np.linalg.eigh(cov)
        return cls(mean, np.clip(values, 0, None), vectors)

    def gains(self, schedule: DDPMSchedule, t: int) -> np.ndarray:
        """Per-eigendirection gain ``s lambda / (s^2 lambda + sigma^2)`` of the filter at timestep t."""
        s, sigma = scales(schedule, t)
        return s * self.eigenvalues / (s**2 * self.eigenvalues + sigma**2)

    def matrix(self, schedule: DDPMSchedule, t: int) -> np.ndarray:
        """The filter's matrix (its Jacobian), ``(d, d)``."""
        v = self.eigenvectors
        return (v * self.gains(schedule, t)) @ v.T

    def __call__(self, x_t: np.ndarray, schedule: DDPMSchedule, t: int) -> np.ndarray:
        """Posterior means for a batch ``(N, d)`` of noisy inputs at timestep t."""
        s, _ = scales(schedule, t)
        v = self.eigenvectors
        centered = np.asarray(x_t, np.float64) - s * self.mean
        return self.mean + ((centered @ v) * self.gains(schedule, t)) @ v.T


# --- similarity, generalization and reproducibility -------------------------------------------------


def generalization_score(samples: np.ndarray, training: np.ndarray, threshold: float) -> float:
    """1 - the share of samples whose nearest training image is more similar than ``threshold``."""
    similarity, _ = nearest_similarity(samples, training)
    return float(1.0 - np.mean(similarity > threshold))


def reproducibility_score(samples_a: np.ndarray, samples_b: np.ndarray, threshold: float) -> float:
    """The share of equal-noise sample pairs of two models that are more similar than ``threshold``."""
    return float(np.mean(pair_similarity(samples_a, samples_b) > threshold))


def copy_ratio(samples: np.ndarray, training: np.ndarray) -> np.ndarray:
    """Distance to the nearest training point over distance to the second nearest (< 1/3: a copy)."""
    a = np.asarray(samples, np.float64).reshape(len(samples), -1)
    b = np.asarray(training, np.float64).reshape(len(training), -1)
    distances = np.sqrt(np.maximum((a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None], 0))
    two = np.sort(distances, axis=1)[:, :2]
    return two[:, 0] / np.maximum(two[:, 1], 1e-12)


# --- linearity ---------------------------------------------------------------------------------------


def linearity_score(
    fn: Callable, x1: np.ndarray, x2: np.ndarray, center: np.ndarray, a: float = 2**-0.5, b: float = 2**-0.5
) -> np.ndarray:
    """Cosine between ``f(c + a u + b v) - f(c)`` and ``a (f(x1) - f(c)) + b (f(x2) - f(c))`` per pair.

    ``u = x1 - c``, ``v = x2 - c``: the superposition test of Li et al. taken
    around ``c`` (the noised data mean), so that every affine map scores
    exactly 1; with ``a = b = 1/sqrt(2)`` a mix of two noisy inputs keeps
    their noise level. fn maps a batch ``(N, d)`` to ``(N, d)``.
    """
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    center = np.broadcast_to(np.asarray(center, np.float64), x1.shape)
    f_c = np.asarray(fn(center), np.float64)
    mixed = np.asarray(fn(center + a * (x1 - center) + b * (x2 - center)), np.float64) - f_c
    combined = a * (np.asarray(fn(x1), np.float64) - f_c) + b * (np.asarray(fn(x2), np.float64) - f_c)
    return pair_similarity(mixed, combined)


def distill_linear(fn: Callable, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine fit ``fn(x) ~ W x + c`` over ``inputs`` (N, d); returns ``(W (d, d), c (d,))``."""
    x = np.asarray(inputs, np.float64)
    y = np.asarray(fn(inputs), np.float64)
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return solution[:-1].T, solution[-1]


# --- mixture of low-rank Gaussians -------------------------------------------------------------------


@dataclass
class MoLRG:
    """``x_0 = U_k a``: ``k`` uniform in ``1..K``, ``a ~ N(0, I_r)``, orthonormal, orthogonal ``U_k``."""

    bases: np.ndarray  # (K, d, r)

    @classmethod
    def random(cls, d: int, components: int, rank: int, seed: int) -> MoLRG:
        if components * rank > d:
            raise ValueError(
                f"components * rank must be <= d for orthogonal subspaces; got {components} * {rank} > {d}"
            )
        q, _ = np.linalg.qr(seeds.rng(seed, "molrg-subspaces").standard_normal((d, components * rank)))
        return cls(q.T.reshape(components, rank, d).transpose(0, 2, 1))

    @property
    def dim(self) -> int:
        return self.bases.shape[1]

    @property
    def rank(self) -> int:
        return self.bases.shape[2]

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` points and their components."""
        rng = seeds.rng(seed, "molrg-sample")
        k = rng.integers(0, len(self.bases), num)
        coefficients = rng.standard_normal((num, self.rank))
        return np.einsum("ndr,nr->nd", self.bases[k], coefficients), k

    def _component_terms(self, x: np.ndarray, s: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """Per component: log N(x; 0, s^2 U U^T + sigma^2 I) and the projection U U^T x."""
        x = np.asarray(x, np.float64)
        d, r = self.dim, self.rank
        coords = np.einsum("kdr,nd->nkr", self.bases, x)
        projected_sq = (coords**2).sum(-1)  # |U_k^T x|^2, (N, K)
        total_sq = (x**2).sum(-1, keepdims=True)
        quad = (total_sq - projected_sq) / sigma**2 + projected_sq / (s**2 + sigma**2)
        log_det = r * np.log(s**2 + sigma**2) + (d - r) * np.log(sigma**2)
        log_density = -0.5 * (quad + log_det + d * np.log(2 * np.pi))
        projections = np.einsum("kdr,nkr->nkd", self.bases, coords)
        return log_density, projections

    def log_density(self, x: np.ndarray, s: float = 1.0, sigma: float = 1e-3) -> np.ndarray:
        """log p_t(x) of ``x_t = s x_0 + sigma eps`` (uniform mixture weights)."""
        log_components, _ = self._component_terms(x, s, sigma)
        return logsumexp(log_components, axis=1) - np.log(len(self.bases))

    def posterior_weights(self, x: np.ndarray, s: float, sigma: float) -> np.ndarray:
        log_components, _ = self._component_terms(x, s, sigma)
        return np.exp(log_components - logsumexp(log_components, axis=1, keepdims=True))

    def posterior_mean(self, x: np.ndarray, s: float, sigma: float) -> np.ndarray:
        """``E[x_0 | x_t = x] = sum_k w_k(x) s / (s^2 + sigma^2) U_k U_k^T x``."""
        log_components, projections = self._component_terms(x, s, sigma)
        weights = np.exp(log_components - logsumexp(log_components, axis=1, keepdims=True))
        return s / (s**2 + sigma**2) * np.einsum("nk,nkd->nd", weights, projections)

    def score(self, x: np.ndarray, s: float, sigma: float) -> np.ndarray:
        """``grad log p_t(x) = (s E[x_0 | x] - x) / sigma^2`` (Tweedie)."""
        return (s * self.posterior_mean(x, s, sigma) - np.asarray(x, np.float64)) / sigma**2


def noised(data: np.ndarray, schedule: DDPMSchedule, t: int, seed: int) -> np.ndarray:
    """``x_t = s_t x_0 + sigma_t eps`` for each row of ``data``, with seeded noise."""
    s, sigma = scales(schedule, t)
    eps = seeds.rng(seed, "noised", t).standard_normal(data.shape)
    return s * np.asarray(data, np.float64) + sigma * eps


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """``mean |estimate - reference|^2 / mean |reference|^2``."""
    return float(np.mean(np.sum((estimate - reference) ** 2, 1)) / np.mean(np.sum(reference**2, 1)))
