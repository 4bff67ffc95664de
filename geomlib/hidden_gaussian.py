"""Memorization, generalization and the hidden Gaussian structure of diffusion denoisers.

The math of "Understanding Generalizability of Diffusion Models Requires
Rethinking the Hidden Gaussian Structure" (Li, Dai & Qu, NeurIPS 2024) and of
the mixture-of-low-rank-Gaussians (MoLRG) results around it, for the
companion's small JAX denoisers:

- ``GaussianDenoiser``: the closed-form posterior mean ``E[x_0 | x_t]`` when
  ``x_0 ~ N(mu, Sigma)`` (a Wiener filter), per DDPM timestep.
- ``ddim_sample``: the deterministic DDIM sampler for any x0-predictor, so
  that equal initial noise gives comparable samples across models.
- similarity-based generalization and reproducibility scores, the
  linearity score, and a least-squares linear distillation of a denoiser.
- ``MoLRG``: K orthogonal rank-r subspaces in R^d with Gaussian coefficients;
  its noisy density, score and posterior mean in closed form.

Timesteps follow ``geomlib.diffusion.DDPMSchedule``: ``x_t = s_t x_0 + sigma_t
eps`` with ``s_t = sqrt(alpha_bar_t)`` and ``sigma_t = sqrt(1 - alpha_bar_t)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .diffusion import DDPMSchedule
from .io import project_path
from .metrics import nearest_similarity, pair_similarity

__all__ = [
    "GaussianDenoiser",
    "Similarity",
    "MoLRG",
    "copy_ratio",
    "ddim_sample",
    "distill_linear",
    "generalization_score",
    "linearity_score",
    "nearest_similarity",
    "pair_similarity",
    "reproducibility_score",
]


def _scales(schedule: DDPMSchedule, t: int) -> tuple[float, float]:
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
        s, sigma = _scales(schedule, t)
        return s * self.eigenvalues / (s**2 * self.eigenvalues + sigma**2)

    def matrix(self, schedule: DDPMSchedule, t: int) -> np.ndarray:
        """The filter's matrix (its Jacobian), ``(d, d)``."""
        v = self.eigenvectors
        return (v * self.gains(schedule, t)) @ v.T

    def __call__(self, x_t: np.ndarray, schedule: DDPMSchedule, t: int) -> np.ndarray:
        """Posterior means for a batch ``(N, d)`` of noisy inputs at timestep t."""
        s, _ = _scales(schedule, t)
        v = self.eigenvectors
        centered = np.asarray(x_t, np.float64) - s * self.mean
        return self.mean + ((centered @ v) * self.gains(schedule, t)) @ v.T


def ddim_sample(x0_fn: Callable, schedule: DDPMSchedule, noise: np.ndarray, steps: int) -> np.ndarray:
    """Deterministic DDIM (eta = 0) from ``noise`` (N, d) with an x0-predictor ``x0_fn(x_t, t) -> x0``.

    Timesteps ``T-1, ..., 0`` in ``steps`` evenly spaced stops; at each stop
    the noise estimate is recovered from the x0 estimate, and the last stop
    returns the x0 estimate itself.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    stops = np.unique(np.linspace(schedule.num_steps - 1, 0, steps).round().astype(int))[::-1]
    x = np.asarray(noise, np.float64)
    for i, t in enumerate(stops):
        s, sigma = _scales(schedule, int(t))
        x0 = np.asarray(x0_fn(x, int(t)), np.float64)
        if i + 1 == len(stops):
            return x0
        eps = (x - s * x0) / sigma
        s_next, sigma_next = _scales(schedule, int(stops[i + 1]))
        x = s_next * x0 + sigma_next * eps
    return x0


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
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, components * rank)))
        return cls(q.T.reshape(components, rank, d).transpose(0, 2, 1))

    @property
    def dim(self) -> int:
        return self.bases.shape[1]

    @property
    def rank(self) -> int:
        return self.bases.shape[2]

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` points and their components."""
        rng = np.random.default_rng(seed)
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


def batched_x0(apply_fn: Callable, params, schedule: DDPMSchedule) -> Callable:
    """``(x_t (N, d), t) -> x0 estimate`` of a noise predictor ``apply_fn(params, x, t)``, jitted once."""
    abars = jnp.asarray(schedule.alpha_bars, jnp.float32)

    @jax.jit
    def run(params, x, t):
        eps = apply_fn(params, x, jnp.full(x.shape[:1], t))
        return (x - jnp.sqrt(1 - abars[t]) * eps) / jnp.sqrt(abars[t])

    return lambda x, t: np.asarray(run(params, jnp.asarray(x, jnp.float32), t))


# --- the study: small MNIST denoisers trained here ----------------------------------------------------


def mnist_vectors(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST train and test digits average-pooled to ``size`` x ``size``, flattened, in [-1, 1]."""
    from .data import load_mnist

    if 28 % size:
        raise ValueError(f"image_size must divide 28 (7, 14 or 28); got {size}")
    data = load_mnist(seed=seed)
    f = 28 // size

    def pool(images):
        pooled = images.reshape(-1, size, f, size, f).mean(axis=(2, 4))
        return (pooled.reshape(len(images), -1) * 2 - 1).astype(np.float32)

    return pool(data.train_images), pool(data.test_images)


@dataclass
class Denoiser:
    """A trained noise predictor, seen as an x0-predictor."""

    apply: Callable  # flax apply(params, x, t)
    params: object
    schedule: DDPMSchedule
    label: str

    def __post_init__(self):
        self._x0 = batched_x0(self.apply, self.params, self.schedule)

    def __call__(self, x_t: np.ndarray, t: int) -> np.ndarray:
        return self._x0(x_t, t)


def train_denoisers(
    data: np.ndarray,
    *,
    width: int,
    depth: int,
    time_features: int,
    steps: int,
    checkpoints: tuple[int, ...],
    batch_size: int,
    learning_rate: float,
    seed: int,
    schedule: DDPMSchedule,
    name: str,
    progress: bool = False,
) -> dict[int, Denoiser]:
    """Train (or load, cached) a residual-MLP DDPM on ``data`` (N, d); one ``Denoiser`` per checkpoint."""
    from dataclasses import asdict

    from .diffusion import epsilon_loss
    from .models import MLPDenoiser, MLPDenoiserConfig
    from .training import TrainSettings, train_with_checkpoints

    config = MLPDenoiserConfig(
        data_dim=data.shape[1], hidden=width, depth=depth, time_features=time_features, residual=True
    )
    model = MLPDenoiser(config)
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, data.shape[1])), jnp.zeros((1,)))

    def loss(p, batch, key):
        return epsilon_loss(model.apply, p, batch, key, schedule)

    run = train_with_checkpoints(
        name,
        {"model": asdict(config), "schedule": asdict(schedule)},
        params,
        loss,
        data,
        TrainSettings(steps, batch_size, learning_rate, seed, tuple(checkpoints)),
        progress=progress,
    )
    return {
        step: Denoiser(model.apply, p, schedule, f"N={len(data)}, width {width}, step {step}")
        for step, p in run.params.items()
    }


def noised(data: np.ndarray, schedule: DDPMSchedule, t: int, seed: int) -> np.ndarray:
    """``x_t = s_t x_0 + sigma_t eps`` for each row of ``data``, with seeded noise."""
    s, sigma = _scales(schedule, t)
    eps = np.random.default_rng(seed * 1_000 + t).standard_normal(data.shape)
    return s * np.asarray(data, np.float64) + sigma * eps


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """``mean |estimate - reference|^2 / mean |reference|^2``."""
    return float(np.mean(np.sum((estimate - reference) ** 2, 1)) / np.mean(np.sum(reference**2, 1)))


@dataclass
class Sweep:
    """Pairs of denoisers trained on disjoint sets of each size N, their samples and their Gaussian twins."""

    training: dict[int, tuple[np.ndarray, np.ndarray]]  # N -> (set A, set B)
    models: dict[int, tuple[dict[int, Denoiser], Denoiser]]  # N -> (A by checkpoint step, B final)
    gaussians: dict[int, GaussianDenoiser]  # N -> fitted to set A
    noise: np.ndarray  # (num_samples, d) shared initial noise
    samples: dict[int, dict[str, np.ndarray]]  # N -> {"A", "B", "gaussian"} in [-1, 1]


def _train_kwargs(cfg, schedule, width=None):
    return dict(
        width=width or cfg.width,
        depth=cfg.depth,
        time_features=cfg.time_features,
        steps=cfg.train_steps,
        checkpoints=tuple(cfg.checkpoints),
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        schedule=schedule,
        name="hidden_gaussian",
    )


def disjoint_sets(train: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint training sets of ``size`` images (fixed seeded order: growing N is nested)."""
    if 2 * size > len(train):
        raise ValueError(
            f"train_sizes: {size} needs {2 * size} training images for two disjoint sets; have {len(train)}"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    half = len(train) // 2
    return train[np.sort(order[:size])], train[np.sort(order[half : half + size])]


def run_sweep(
    train: np.ndarray, cfg, schedule: DDPMSchedule, sizes=None, width=None, progress=False
) -> Sweep:
    """Per N: model A (seed) on set A, model B (seed + 1) on set B; DDIM samples from shared noise."""
    sizes = tuple(sizes or cfg.train_sizes)
    noise = np.random.default_rng(cfg.seed + 99).standard_normal((cfg.num_samples, train.shape[1]))
    sweep = Sweep({}, {}, {}, noise, {})
    for size in sizes:
        set_a, set_b = disjoint_sets(train, size, cfg.seed)
        kwargs = _train_kwargs(cfg, schedule, width)
        a = train_denoisers(set_a, seed=cfg.seed, progress=progress, **kwargs)
        b = train_denoisers(set_b, seed=cfg.seed + 1, progress=progress, **kwargs)
        gaussian = GaussianDenoiser.fit(set_a)
        final = cfg.train_steps
        sweep.training[size] = (set_a, set_b)
        sweep.models[size] = (a, b[final])
        sweep.gaussians[size] = gaussian
        sweep.samples[size] = {
            "A": ddim_sample(a[final], schedule, noise, cfg.sample_steps),
            "B": ddim_sample(b[final], schedule, noise, cfg.sample_steps),
            "gaussian": ddim_sample(
                lambda x, t, g=gaussian: g(x, schedule, t), schedule, noise, cfg.sample_steps
            ),
        }
    return sweep


def to_unit(images: np.ndarray) -> np.ndarray:
    """[-1, 1] pixels to [0, 1] (clipped), so a blank background is zero and cosine means overlap."""
    return np.clip((np.asarray(images) + 1) / 2, 0, 1)


class Similarity:
    """Images in [-1, 1] to the vectors whose cosine is "similarity": pixels in [0, 1], or SSCD embeddings.

    SSCD (Pizzi et al., CVPR 2022) is the copy-detection model the papers use
    with a 0.6 threshold; give its TorchScript file by local path.
    """

    def __init__(self, sscd_model: str | None, side: int):
        self.side = side
        self.model = None
        if sscd_model is not None:
            import torch

            path = project_path(sscd_model)
            if not path.is_file():
                raise FileNotFoundError(
                    f"sscd_model {str(path)!r} does not exist: download sscd_disc_mixup.torchscript.pt from "
                    f"github.com/facebookresearch/sscd-copy-detection and give its path, or set "
                    f"sscd_model=None to compare pixels"
                )
            self.model = torch.jit.load(str(path)).eval()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        pixels = to_unit(images)
        if self.model is None:
            return pixels
        import torch

        x = (
            torch.as_tensor(pixels, dtype=torch.float32)
            .reshape(-1, 1, self.side, self.side)
            .repeat(1, 3, 1, 1)
        )
        x = torch.nn.functional.interpolate(x, size=224, mode="bilinear", align_corners=False)
        mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
        with torch.no_grad():
            return torch.cat([self.model((part - mean) / std) for part in x.split(64)]).numpy()


def scores_table(sweep: Sweep, threshold: float, features=to_unit) -> pd.DataFrame:
    """Per N: generalization and reproducibility scores, and the similarities behind them."""
    rows = []
    for size, samples in sweep.samples.items():
        set_a = sweep.training[size][0]
        nearest, _ = nearest_similarity(features(samples["A"]), features(set_a))
        pairs = pair_similarity(features(samples["A"]), features(samples["B"]))
        to_gaussian = pair_similarity(features(samples["A"]), features(samples["gaussian"]))
        rows.append(
            {
                "N": size,
                "generalization": float(1 - np.mean(nearest > threshold)),
                "reproducibility": float(np.mean(pairs > threshold)),
                "median nearest-training similarity": float(np.median(nearest)),
                "median A-B similarity": float(np.median(pairs)),
                "median similarity to Gaussian sample": float(np.median(to_gaussian)),
            }
        )
    return pd.DataFrame(rows).set_index("N")


def denoiser_comparison(sweep: Sweep, test: np.ndarray, cfg, schedule: DDPMSchedule) -> pd.DataFrame:
    """Per N and noise level: trained denoiser (model A) against its Gaussian twin and linear distillation.

    Columns: ``gaussian gap`` (relative squared difference of the outputs of
    the trained and Gaussian denoisers on noised held-out digits), ``linearity``
    (mean linearity score over random pairs), ``distilled gap`` (relative
    Frobenius distance between the least-squares linear fit of the trained
    denoiser and the Gaussian filter's matrix) and ``distilled fit`` (relative
    squared error of that linear fit on fresh inputs).
    """
    rows = []
    final = cfg.train_steps
    rng = np.random.default_rng(cfg.seed + 5)
    inputs = test[: cfg.test_inputs]
    for size, (models, _) in sweep.models.items():
        model, gaussian = models[final], sweep.gaussians[size]
        for t in cfg.noise_levels:
            x_t = noised(inputs, schedule, t, cfg.seed)
            trained = model(x_t, t)
            gap = relative_error(trained, gaussian(x_t, schedule, t))
            pairs = rng.integers(0, len(inputs), (cfg.linearity_pairs, 2))
            center = _scales(schedule, t)[0] * gaussian.mean
            linear = linearity_score(
                lambda x, m=model, t=t: m(x, t), x_t[pairs[:, 0]], x_t[pairs[:, 1]], center
            )
            fit_inputs = noised(
                test[rng.integers(0, len(test), cfg.distill_inputs)], schedule, t, cfg.seed + 1
            )
            weights, offset = distill_linear(lambda x, m=model, t=t: m(x, t), fit_inputs)
            reference = gaussian.matrix(schedule, t)
            rows.append(
                {
                    "N": size,
                    "t": t,
                    "gaussian gap": gap,
                    "linearity": float(np.mean(linear)),
                    "distilled gap": float(np.linalg.norm(weights - reference) / np.linalg.norm(reference)),
                    "distilled fit": relative_error(x_t @ weights.T + offset, trained),
                }
            )
    return pd.DataFrame(rows)


def capacity_table(
    train: np.ndarray, cfg, schedule: DDPMSchedule, features=to_unit, progress=False
) -> pd.DataFrame:
    """At N = capacity_size: scores for each width (final step) and for each checkpoint of the main width."""
    rows = []
    for width in (*cfg.capacity_widths, cfg.width):
        sweep = run_sweep(train, cfg, schedule, sizes=(cfg.capacity_size,), width=width, progress=progress)
        table = scores_table(sweep, cfg.similarity_threshold, features).iloc[0]
        rows.append({"width": width, "step": cfg.train_steps, **table.to_dict()})
        if width == cfg.width:
            set_a = sweep.training[cfg.capacity_size][0]
            for step, model in sweep.models[cfg.capacity_size][0].items():
                if step == cfg.train_steps:
                    continue
                samples = ddim_sample(model, schedule, sweep.noise, cfg.sample_steps)
                nearest, _ = nearest_similarity(features(samples), features(set_a))
                rows.append(
                    {
                        "width": width,
                        "step": step,
                        "generalization": float(1 - np.mean(nearest > cfg.similarity_threshold)),
                        "median nearest-training similarity": float(np.median(nearest)),
                    }
                )
    return pd.DataFrame(rows).sort_values(["width", "step"], ignore_index=True)


def jacobian_table(sweep: Sweep, test: np.ndarray, cfg, schedule: DDPMSchedule) -> pd.DataFrame:
    """Per N and noise level: rank ratio, nu, psi and delta of the x0-predictor's Jacobian at held-out inputs.

    The same noisy inputs for every model; the Gaussian twin's rank ratio
    (from its filter gains) beside it.
    """
    from .diffusion import denoiser_map
    from .directions import Polytope
    from .local_geometry import local_geometry

    rows = []
    final = cfg.train_steps
    polytope = Polytope(k=cfg.polytope_k, r=cfg.polytope_r, seed=cfg.seed)
    inputs = test[-cfg.jacobian_inputs :]
    d = test.shape[1]
    for size, (models, _) in sweep.models.items():
        model = models[final]
        fn = denoiser_map(model.apply, schedule, kind="x0")
        for t in cfg.noise_levels:
            x_t = noised(inputs, schedule, t, cfg.seed + 2).astype(np.float32)
            geom = local_geometry(
                fn,
                x_t,
                has_aux=True,
                rank_tol=cfg.rank_tol,
                complexity=polytope,
                return_sigma=True,
                fn_args=(model.params, t),
                progress=False,
            )
            gains = np.abs(sweep.gaussians[size].gains(schedule, t))
            rows.append(
                {
                    "N": size,
                    "t": t,
                    "rank ratio": float(np.mean(geom.rank) / d),
                    "gaussian rank ratio": float(
                        np.mean(gains > cfg.rank_tol * gains.max()) if gains.max() > 0 else 0
                    ),
                    "nu": float(np.mean(geom.nu)),
                    "psi": float(np.mean(geom.psi)),
                    "delta": float(np.mean(geom.delta)),
                }
            )
    return pd.DataFrame(rows)


def molrg_table(cfg, schedule: DDPMSchedule, progress=False) -> pd.DataFrame:
    """MoLRG in ``molrg_dim`` dimensions: per rank r and size N, the score error and the share of copies.

    score error: relative squared error of the trained model's score (its noise
    prediction) against the closed form on fresh noisy samples, averaged over
    the noise levels. copies: the share of DDIM samples whose nearest training point is
    closer than a third of the second nearest (Yoon et al., 2023).
    """
    rows = []
    for rank in cfg.molrg_ranks:
        mixture = MoLRG.random(cfg.molrg_dim, cfg.molrg_components, rank, seed=cfg.seed + rank)
        fresh, _ = mixture.sample(512, seed=cfg.seed + 1)
        noise = np.random.default_rng(cfg.seed + 3).standard_normal((cfg.num_samples, cfg.molrg_dim))
        for size in cfg.molrg_sizes:
            data, _ = mixture.sample(size, seed=cfg.seed)
            model = train_denoisers(
                data.astype(np.float32),
                width=cfg.molrg_width,
                depth=cfg.depth,
                time_features=cfg.time_features,
                steps=cfg.molrg_steps,
                checkpoints=(cfg.molrg_steps,),
                batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
                seed=cfg.seed,
                schedule=schedule,
                name="molrg",
                progress=progress,
            )[cfg.molrg_steps]
            errors = []
            for t in cfg.noise_levels:
                s, sigma = _scales(schedule, t)
                x_t = noised(fresh, schedule, t, cfg.seed + 4)
                # Relative error of the score -eps/sigma, i.e. of the noise prediction: well scaled at every t
                # (x0 errors are amplified by 1/s at high noise).
                eps_model = (x_t - s * model(x_t, t)) / sigma
                eps_true = (x_t - s * mixture.posterior_mean(x_t, s, sigma)) / sigma
                errors.append(relative_error(eps_model, eps_true))
            samples = ddim_sample(model, schedule, noise, cfg.sample_steps)
            rows.append(
                {
                    "r": rank,
                    "N": size,
                    "N / r": size / rank,
                    "score error": float(np.mean(errors)),
                    "copies": float(np.mean(copy_ratio(samples, data) < 1 / 3)),
                }
            )
    return pd.DataFrame(rows)


SUMMARY_MAX_T = 500  # the summary averages denoiser gaps over t <= this: above it, x0 = (x - sigma eps) / s
# amplifies the noise predictor's error by 1 / s (60x at t = 900), which swamps the comparison.


def summary(scores, comparison, capacity, jacobians, molrg) -> dict:
    """The numbers the tables show, for the closing printout."""
    comparison = comparison[comparison["t"] <= SUMMARY_MAX_T]

    def by(frame, key, column):
        return {str(k): float(v) for k, v in frame.groupby(key)[column].mean().items()}

    return {
        "generalization_by_N": {str(n): float(v) for n, v in scores["generalization"].items()},
        "reproducibility_by_N": {str(n): float(v) for n, v in scores["reproducibility"].items()},
        "similarity_to_gaussian_sample_by_N": {
            str(n): float(v) for n, v in scores["median similarity to Gaussian sample"].items()
        },
        f"gaussian_gap_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "gaussian gap"),
        f"linearity_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "linearity"),
        f"distilled_gap_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "distilled gap"),
        "capacity_generalization": {
            f"width {int(r.width)} step {int(r.step)}": float(r.generalization) for r in capacity.itertuples()
        },
        "rank_ratio_mean_over_t_by_N": by(jacobians, "N", "rank ratio"),
        "nu_mean_over_t_by_N": by(jacobians, "N", "nu"),
        "psi_mean_over_t_by_N": by(jacobians, "N", "psi"),
        "delta_mean_over_t_by_N": by(jacobians, "N", "delta"),
        "molrg_score_error": {
            f"r={r} N={n}": float(e) for r, n, e in zip(molrg.r, molrg.N, molrg["score error"], strict=True)
        },
        "molrg_copies": {f"r={r.r} N={r.N}": float(r.copies) for r in molrg.itertuples()},
    }
