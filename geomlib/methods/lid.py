r"""Local intrinsic dimension (LID): data of known dimension, and the estimators that use a diffusion model.

Data (generated here, every point with its true local dimension):

- ``LowRankGaussianMixture``: component k is :math:`x_0 = m_k + c\,U_k z`,
  :math:`z \sim \mathcal N(0, I_{d_k})`, :math:`U_k` a :math:`D \times d_k`
  orthonormal basis: a Gaussian on a :math:`d_k`-dimensional affine subspace.
  Its noisy density, score and posterior mean are known in closed form, so the
  model-based estimators also run on the exact score.
- ``residual_diffeomorphism``: a fixed smooth bijection of :math:`\mathbb R^D`,
  :math:`x \mapsto x + a \tanh(W x + b)` with :math:`\|a\| \|W\| < 1`, which
  bends the subspaces without changing their dimension.
- ``sphere`` and ``torus``: :math:`S^d` and :math:`T^2` embedded in
  :math:`\mathbb R^D` by a random isometry.

Estimators that read a diffusion model at timestep :math:`t` (``x_t = s_t
x_0 + \sigma_t \epsilon``, noise prediction :math:`\hat\epsilon(x, t)`), each
evaluated at a data point :math:`y` through :math:`x = s_t y`:

- **nu and rank of the posterior-mean predictor's Jacobian** (this paper's
  local rank, and a numerical rank at a stated tolerance): at small noise the
  x0-predictor projects onto the data manifold, so its Jacobian at a point on
  it has rank :math:`d` (``geomlib.core.local_geometry``).
- **FLIPD** (Kamkari et al., "A geometric view of data complexity: efficient
  local intrinsic dimension estimation with diffusion models", NeurIPS 2024):
  :math:`\mathrm{LID} \approx D + \partial_\delta \log p_\delta(y)` for the
  data density convolved with :math:`\mathcal N(0, e^{2\delta} I)` and small
  :math:`\delta`; with :math:`\partial_\delta \log p_\delta = \sigma^2
  (\operatorname{tr}\nabla s + \|s\|^2)` and the score :math:`s = -\hat\epsilon /
  \sigma_t` of the DDPM marginal (scaled by :math:`s_t`), this is
  :math:`\mathrm{FLIPD}(y, t) = D - \sigma_t \operatorname{tr}\,\partial_x
  \hat\epsilon(s_t y, t) + \|\hat\epsilon(s_t y, t)\|^2`.
- **NormalBundle** (Stanczuk et al., "Your diffusion model secretly knows the
  dimension of the data manifold", 2022): the scores at ``K`` noisy copies
  :math:`s_t y + \sigma_t \xi_i` of a point span its normal space; the
  singular values of the ``K x D`` score matrix drop after :math:`D - d` of
  them, so :math:`\mathrm{LID} = D - i^*` with :math:`i^*` the position of
  the largest drop (``s_i - s_{i+1}``). The score matrix is centred over the
  ``K`` copies first: its mean (the drift along the manifold, which grows
  with the noise, and a trained model's bias) is a rank-one term that
  otherwise decides the largest drop (``tests/unit/test_lid.py``: exact at
  t = 2, 10 and 100 with a constant bias or a smooth error added).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from ..core import seeds
from ..models.diffusion import DDPMSchedule

__all__ = [
    "Dataset",
    "LowRankGaussianMixture",
    "flipd",
    "normal_bundle",
    "residual_diffeomorphism",
    "sphere",
    "torus",
]


def _orthonormal(rng: np.random.Generator, dim: int, columns: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((dim, columns)))
    return q


@dataclass
class LowRankGaussianMixture:
    """Gaussians on affine subspaces of different dimensions: ``x0 = means[k] + scale * bases[k] @ z``."""

    means: np.ndarray  # (K, D)
    bases: list[np.ndarray]  # K matrices (D, d_k) with orthonormal columns
    scale: float  # standard deviation along each subspace direction
    weights: np.ndarray  # (K,) mixture weights

    @classmethod
    def random(cls, ambient: int, dims: tuple[int, ...], seed: int, scale: float = 1.0, spread: float = 4.0):
        """Components of dimensions ``dims`` in ``R^ambient``, random subspaces and means (equal weights)."""
        if not dims or min(dims) < 1 or max(dims) >= ambient:
            raise ValueError(f"dims must be in [1, ambient - 1] = [1, {ambient - 1}]; got {dims}")
        rng = seeds.rng(seed, "low-rank-mixture")
        means = spread * rng.standard_normal((len(dims), ambient)) / np.sqrt(ambient)
        if len(dims) == 1:
            means[:] = 0.0
        bases = [_orthonormal(rng, ambient, d) for d in dims]
        return cls(means, bases, float(scale), np.full(len(dims), 1.0 / len(dims)))

    @property
    def ambient(self) -> int:
        return self.means.shape[1]

    @property
    def dims(self) -> np.ndarray:
        return np.array([b.shape[1] for b in self.bases])

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` points and the true local dimension of each."""
        rng = seeds.rng(seed, "low-rank-mixture-sample")
        component = rng.choice(len(self.bases), num, p=self.weights)
        points = np.empty((num, self.ambient))
        for k, basis in enumerate(self.bases):
            members = np.flatnonzero(component == k)
            z = rng.standard_normal((len(members), basis.shape[1]))
            points[members] = self.means[k] + self.scale * z @ basis.T
        return points.astype(np.float32), self.dims[component]

    def _terms(self, x, s, sigma, xp):
        """Per component: log(weight N(x; s m_k, s^2 c^2 U U^T + sigma^2 I)), posterior mean given k."""
        c2 = self.scale**2
        logs, means = [], []
        D = self.ambient
        for k, basis in enumerate(self.bases):
            basis = xp.asarray(basis, dtype=x.dtype)
            r = x - s * xp.asarray(self.means[k], dtype=x.dtype)
            coords = r @ basis  # (..., d)
            along = xp.sum(coords**2, axis=-1)
            total = xp.sum(r**2, axis=-1)
            var_along = s**2 * c2 + sigma**2
            d = basis.shape[1]
            log_density = -0.5 * (
                (total - along) / sigma**2
                + along / var_along
                + d * xp.log(var_along)
                + (D - d) * xp.log(sigma**2)
                + D * np.log(2 * np.pi)
            )
            logs.append(np.log(self.weights[k]) + log_density)
            gain = s * c2 / var_along
            means.append(xp.asarray(self.means[k], dtype=x.dtype) + gain * coords @ basis.T)
        return xp.stack(logs, axis=-1), xp.stack(means, axis=-2)

    def log_density(self, x: np.ndarray, s: float, sigma: float) -> np.ndarray:
        """log p(x_t = x) for ``x_t = s x_0 + sigma eps`` (NumPy, float64)."""
        logs, _ = self._terms(np.asarray(x, np.float64), s, sigma, np)
        return logsumexp(logs, axis=-1)

    def posterior_mean(self, x, s, sigma, xp=jnp):
        """``E[x_0 | x_t = x]``: the responsibilities times each component's posterior mean."""
        logs, means = self._terms(x, s, sigma, xp)
        if xp is np:
            weights = np.exp(logs - logsumexp(logs, axis=-1, keepdims=True))
        else:
            weights = jax.nn.softmax(logs, axis=-1)
        return xp.sum(weights[..., None] * means, axis=-2)

    def eps_fn(self, schedule: DDPMSchedule) -> Callable:
        """``(x (D,), t) -> eps``: the exact noise prediction ``(x - s_t E[x_0 | x]) / sigma_t`` (JAX)."""
        abars = jnp.asarray(schedule.alpha_bars, jnp.float32)

        def eps(x, t):
            s, sigma = jnp.sqrt(abars[t]), jnp.sqrt(1 - abars[t])
            return (x - s * self.posterior_mean(x, s, sigma)) / sigma

        return eps


def residual_diffeomorphism(ambient: int, seed: int, strength: float = 0.9) -> Callable:
    """A fixed smooth bijection ``x -> x + a tanh(W x + b)`` of ``R^ambient`` (NumPy in, NumPy out).

    ``W`` is orthogonal and ``|a| = strength < 1``, so the residual is a
    contraction and the map is invertible with an invertible Jacobian
    everywhere: it bends a manifold without changing its dimension.
    """
    if not 0 < strength < 1:
        raise ValueError(f"strength must be in (0, 1) for the map to be invertible; got {strength}")
    rng = seeds.rng(seed, "diffeomorphism")
    w = _orthonormal(rng, ambient, ambient)
    b = rng.standard_normal(ambient)
    a = strength * np.sign(rng.standard_normal(ambient))

    def bend(x):
        x = np.asarray(x, np.float64)
        return (x + a * np.tanh(x @ w.T + b)).astype(np.float32)

    return bend


def sphere(num: int, dim: int, ambient: int, seed: int, radius: float = 2.0) -> np.ndarray:
    """``num`` points uniform on ``S^dim`` of ``radius``, embedded isometrically in ``R^ambient``."""
    rng = seeds.rng(seed, "sphere")
    g = rng.standard_normal((num, dim + 1))
    points = radius * g / np.linalg.norm(g, axis=1, keepdims=True)
    return (points @ _orthonormal(rng, ambient, dim + 1).T).astype(np.float32)


def torus(num: int, ambient: int, seed: int, radius: float = 1.5) -> np.ndarray:
    """``num`` points uniform on the flat torus ``T^2`` (two circles of ``radius``) in ``R^ambient``."""
    rng = seeds.rng(seed, "torus")
    angles = rng.uniform(0, 2 * np.pi, (num, 2))
    points = radius * np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    return (points @ _orthonormal(rng, ambient, 4).T).astype(np.float32)


# --- estimators that read a diffusion model -------------------------------------------------------------


def flipd(
    eps_fn: Callable, points: np.ndarray, t: int, schedule: DDPMSchedule, fn_args: tuple = ()
) -> np.ndarray:
    """FLIPD at each point: ``D - sigma_t tr(d eps / dx) + |eps|^2`` at ``x = s_t y`` (module docstring).

    eps_fn: ``(x (D,), t, *fn_args) -> eps (D,)``, JAX-traceable. The trace is exact (``jacfwd``).
    """
    abar = float(schedule.alpha_bars[t])
    s, sigma = np.sqrt(abar), np.sqrt(1 - abar)
    D = points.shape[1]

    @jax.jit
    def one(y, args):
        x = s * y
        eps = eps_fn(x, t, *args)
        trace = jnp.trace(jax.jacfwd(lambda z: eps_fn(z, t, *args))(x))
        return D - sigma * trace + jnp.sum(eps**2)

    return np.asarray(jax.vmap(one, in_axes=(0, None))(jnp.asarray(points, jnp.float32), fn_args))


def normal_bundle(
    eps_fn: Callable,
    points: np.ndarray,
    t: int,
    schedule: DDPMSchedule,
    samples: int,
    seed: int,
    fn_args: tuple = (),
) -> np.ndarray:
    """NormalBundle LID at each point: ``D`` minus the position of the largest drop in the singular values
    of the noise predictions (the scores, up to ``-1/sigma_t``) at ``samples`` noisy copies of it."""
    abar = float(schedule.alpha_bars[t])
    s, sigma = np.sqrt(abar), np.sqrt(1 - abar)
    D = points.shape[1]
    noise = seeds.rng(seed, "normal-bundle").standard_normal((len(points), samples, D)).astype(np.float32)

    @jax.jit
    def one(y, xi, args):
        scores = jax.vmap(lambda e: eps_fn(s * y + sigma * e, t, *args))(xi)  # (K, D)
        # Centred: the mean over the noisy copies (the drift along the manifold that grows with t, and a
        # trained model's bias) is one direction shared by every row; left in, it can make the largest
        # drop fall inside the tangent spectrum or after the first value (LID read as D - 1).
        scores = scores - jnp.mean(scores, axis=0)
        values = jnp.linalg.svd(scores, compute_uv=False)  # descending
        drop = jnp.argmax(values[:-1] - values[1:]) + 1  # the normal space's dimension
        return D - drop

    return np.asarray(jax.vmap(one, in_axes=(0, 0, None))(jnp.asarray(points, jnp.float32), noise, fn_args))


# --- a data set with the true local dimension of each evaluation point ---------------------------


@dataclass
class Dataset:
    """Training data, evaluation points and the true local dimension of each (None for MNIST)."""

    name: str
    train: np.ndarray  # (N, D)
    points: np.ndarray  # (M, D) where the estimators run (not in the training set)
    truth: np.ndarray | None  # (M,) true local dimension
    labels: np.ndarray | None = None  # MNIST digits
    exact: LowRankGaussianMixture | None = None  # closed-form score, where there is one
