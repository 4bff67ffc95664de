r"""The editing-and-watermarking study: LOCO Edit and Shallow Diffuse in the Jacobian's subspaces.

``notebooks/subspace_editing`` reuses two models the other notebooks train
and cache, and treats both through one interface, ``PosteriorMean``: the
x0-predictor :math:`\hat x_0(x_t, t)` of

- the pixel-space MNIST DDPM of ``notebooks/local_intrinsic_dimension``
  (a residual MLP on 14 x 14 digits, JAX), and
- the small latent diffusion model of ``notebooks/stable_diffusion``
  (a diffusers UNet on 4 x 4 x 4 autoencoder latents, PyTorch,
  unconditional prompt).

Protocol (LOCO Edit, Chen, Zhang et al. 2024, Alg. 1; Shallow Diffuse, Li,
Zhang & Qu 2024, Sec. 3):

- an input is a real test digit (its encoder latent for the latent model)
  taken to ``edit_timestep`` by DDIM inversion; an edit adds ``lambda v`` to
  that noisy input and runs deterministic DDIM to t = 0; the edit's effect is
  the change of the output *image* against the unedited reconstruction;
- a watermark is added to a generated sample's noisy state at
  ``watermark_timestep`` (from noise by DDIM); the image is then corrupted or
  not, inverted back to that timestep by DDIM, and scored by the detector
  ``<x_t, p / |p|>`` with the fixed key pattern ``p`` (no per-image
  information); the negatives are unmarked samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import stats
from scipy.linalg import subspace_angles

from ...core import seeds
from ...core.backends.operators import LinearOperators, linear_operators
from ...core.descriptors import numerical_rank
from ...core.directions import Polytope
from ...core.result import LocalGeometry
from ...methods.editing import (
    auc,
    detection_score,
    mark_direction,
    masked_direction,
    subspace_iteration,
    top_directions,
    watermark,
)
from ...methods.images import corrupt, psnr
from ...models.base import Generator
from ...models.diffusion import DDPMSchedule, ddim_path, ddim_stops
from .settings import EditingConfig

__all__ = [
    "EditingConfig",
    "PosteriorMean",
    "claims",
    "composability_table",
    "descriptor_table",
    "direction_check",
    "edit_grid",
    "latent_posterior_mean",
    "linearity_table",
    "locality_table",
    "pixel_posterior_mean",
    "spectrum_table",
    "transfer_table",
    "watermark_study",
]


GENERATION_START = 999  # watermarked samples start from pure noise at the last timestep


@dataclass
class PosteriorMean:
    """One generator's x0-predictor, seen by the editing tools with flattened inputs ``(N, d)``.

    The predictions, Jacobians and descriptors all come from the generator's
    own interface (``posterior_mean``, ``analysed_map("x0")``, ``geometry``),
    its linear operators from ``geomlib.core.backends.operators``.
    """

    name: str  # "pixel MNIST DDPM" or "latent MNIST model"
    model: Generator
    shape: tuple[int, ...]  # one input as the figures show it: an image (side, side) or a latent
    alpha_bars: np.ndarray  # the schedule's cumulative products
    to_images: Callable  # clean inputs (N, d) -> images (N, H, W) in [0, 1]
    from_images: Callable  # images -> clean inputs (N, d)
    inputs: np.ndarray  # clean held-out inputs (N, d): test digits or their latents
    labels: np.ndarray  # their digits
    description: str  # which weights, said on the figures
    gate: object | None = None  # the model's quality gate (geomlib.methods.quality), where it is measured

    @property
    def dim(self) -> int:
        return int(np.prod(self.shape))

    def _batch(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32).reshape(-1, *self.model.input_shape)

    def predict(self, x: np.ndarray, t: int) -> np.ndarray:
        """x0 predictions ``(N, d)`` of noisy inputs ``(N, d)`` at ``t``."""
        x0 = self.model.posterior_mean(self._batch(x), timestep=int(t))
        return x0.reshape(len(x), -1).astype(np.float64)

    def operators(self, t: int) -> LinearOperators:
        fn = self.model.analysed_map("x0", timestep=int(t))
        return linear_operators(fn, self.model.input_shape, has_aux=True)

    def jacobian(self, x: np.ndarray, t: int) -> np.ndarray:
        return self.operators(t).jacobian(x)

    def jvp(self, x: np.ndarray, t: int, vectors: np.ndarray) -> np.ndarray:
        return self.operators(t).jvp(x, vectors)

    def vjp(self, x: np.ndarray, t: int, covectors: np.ndarray) -> np.ndarray:
        return self.operators(t).vjp(x, covectors)

    def geometry(self, points: np.ndarray, t: int, polytope: Polytope) -> LocalGeometry:
        """psi, nu, delta of the x0-predictor at ``t`` (cached by the model)."""
        return self.model.geometry(self._batch(points), kind="x0", timestep=int(t), polytope=polytope)

    def invert(self, clean: np.ndarray, t: int, steps: int) -> np.ndarray:
        """DDIM inversion of clean inputs to timestep ``t``."""
        return ddim_path(self.predict, self.alpha_bars, clean, ddim_stops(0, t, steps))

    def denoise(self, x_t: np.ndarray, t: int, steps: int) -> np.ndarray:
        """Deterministic DDIM from timestep ``t`` to 0."""
        return ddim_path(self.predict, self.alpha_bars, x_t, ddim_stops(t, 0, steps))

    def images(self, x_t: np.ndarray, t: int, steps: int) -> np.ndarray:
        """The images that DDIM from ``x_t`` at ``t`` ends in."""
        return self.to_images(self.denoise(x_t, t, steps))


# --- the two models -------------------------------------------------------------------------------


def pixel_posterior_mean(preset: str) -> PosteriorMean:
    """The MNIST pixel DDPM of ``notebooks/local_intrinsic_dimension`` (its ``preset``, cached)."""
    from ...models.mnist_ddpm import MNISTDDPMSettings, mnist_ddpm_data, mnist_ddpm_gate, train_mnist_ddpm

    lid_cfg = MNISTDDPMSettings.preset(preset)  # the model of notebooks/local_intrinsic_dimension
    _, points, labels = mnist_ddpm_data(lid_cfg)
    schedule = DDPMSchedule()
    model = train_mnist_ddpm(lid_cfg, schedule)
    side = lid_cfg.mnist_size
    return PosteriorMean(
        name="pixel MNIST DDPM",
        model=model,
        shape=(side, side),
        alpha_bars=schedule.alpha_bars,
        to_images=lambda x: np.clip((np.asarray(x) + 1) / 2, 0, 1).reshape(-1, side, side),
        from_images=lambda images: (np.asarray(images, np.float64) * 2 - 1).reshape(len(images), -1),
        inputs=points.astype(np.float64),
        labels=np.asarray(labels),
        description=f"residual-MLP DDPM on {side} x {side} MNIST, trained here "
        f"({lid_cfg.mnist_steps} steps; notebooks/local_intrinsic_dimension, preset {preset!r})",
        gate=mnist_ddpm_gate(model, lid_cfg),
    )


def latent_posterior_mean(preset: str, count: int, seed: int) -> PosteriorMean:
    """The latent diffusion model of ``notebooks/stable_diffusion`` (its ``preset``, cached), unconditional;
    inputs: the encoder latents of ``count`` held-out test digits."""
    from ...data import mnist_32
    from ...models.latent_diffusion import LatentDiffusionSettings, load_latent_diffusion
    from ...models.shipped import recorded_gate
    from ...models.small_latent_diffusion import small_model_run

    sd_cfg = LatentDiffusionSettings.preset(preset)
    model = load_latent_diffusion(sd_cfg)
    _, _, test_images, test_labels = mnist_32(sd_cfg.seed)
    chosen = seeds.rng(seed, "editing-held-out").choice(len(test_images), count, replace=False)

    def to_latents(x):
        return np.asarray(x, np.float32).reshape(-1, *model.latent_shape)

    return PosteriorMean(
        name="latent MNIST model",
        model=model,
        shape=model.latent_shape,
        alpha_bars=model.scheduler.alphas_cumprod.cpu().numpy().astype(np.float64),
        to_images=lambda x: model.decode(to_latents(x)),
        from_images=lambda images: model.encode(images).reshape(len(images), -1).astype(np.float64),
        inputs=model.encode(test_images[chosen]).reshape(count, -1).astype(np.float64),
        labels=test_labels[chosen],
        description=model.description,
        gate=recorded_gate(small_model_run(sd_cfg) / "unet") if sd_cfg.sd_model == "small" else None,
    )


# --- 1. directions --------------------------------------------------------------------------------


def noised(pm: PosteriorMean, clean: np.ndarray, t: int, seed: int) -> np.ndarray:
    """Forward-noised copies ``sqrt(abar) x0 + sqrt(1 - abar) eps`` (the spectrum study's inputs)."""
    eps = seeds.rng(seed, "editing-noise", t).standard_normal(clean.shape)
    abar = pm.alpha_bars[t]
    return np.sqrt(abar) * clean + np.sqrt(1 - abar) * eps


def spectrum_table(pm: PosteriorMean, clean: np.ndarray, timesteps, rank_tol: float, seed: int):
    """Singular values of J at forward-noised inputs per timestep: ``(table, spectra)``.

    table: one row per timestep: the numerical rank (values above ``rank_tol``
    times the largest) as a count and as a fraction of the dimension (median
    and range over inputs). spectra: ``{t: (N, d) singular values}``.
    """
    rows, spectra = [], {}
    for t in timesteps:
        sigma = np.stack(
            [np.linalg.svd(pm.jacobian(x, t), compute_uv=False) for x in noised(pm, clean, t, seed)]
        )
        spectra[int(t)] = sigma
        ranks = numerical_rank(sigma, rank_tol)
        rows.append(
            {
                "t": int(t),
                "rank (median)": float(np.median(ranks)),
                "rank (min)": int(ranks.min()),
                "rank (max)": int(ranks.max()),
                "rank ratio": float(np.median(ranks) / pm.dim),
                "top singular value": float(np.median(sigma[:, 0])),
            }
        )
    return pd.DataFrame(rows).set_index("t"), spectra


def direction_check(pm: PosteriorMean, x_t: np.ndarray, t: int, rank: int, iterations: int, seed: int):
    """Subspace iteration (JVPs and VJPs only) against the exact SVD, per input: largest principal angle
    (degrees) and the relative error of the singular values."""
    rows = []
    for i, x in enumerate(x_t):
        exact, sigma = top_directions(pm.jacobian(x, t), rank)
        found, found_sigma = subspace_iteration(
            partial(pm.jvp, x, t),
            partial(pm.vjp, x, t),
            pm.dim,
            rank,
            iterations,
            seeds.derive(seed, "iter", i),
        )
        rows.append(
            {
                "input": i,
                "largest angle (deg)": float(np.degrees(subspace_angles(found, exact).max())),
                "singular value rel. error": float(np.max(np.abs(found_sigma - sigma[:rank]) / sigma[:rank])),
                "gap sigma_k / sigma_k+1": float(sigma[rank - 1] / sigma[rank]),
            }
        )
    return pd.DataFrame(rows).set_index("input")


# --- 2. edits -------------------------------------------------------------------------------------


def edit_grid(pm: PosteriorMean, x_t: np.ndarray, t: int, directions: np.ndarray, strengths, steps: int):
    """Images of ``x_t + lambda v`` denoised, for each direction (columns of ``directions``) and strength:
    ``(len(directions), len(strengths), H, W)``."""
    edited = np.stack([x_t + s * v for v in directions.T for s in strengths])
    images = pm.images(edited, t, steps)
    return images.reshape(directions.shape[1], len(strengths), *images.shape[1:])


WHERE = ("posterior mean", "image")  # where an edit's change is measured


def _changes(pm, x_t, t, offsets, steps, at: str):
    """Changes for each offset (rows), flattened: of the posterior-mean predictor's output at ``t`` (one
    step: where LOCO Edit states linearity and composability), or of the image that ``steps`` DDIM
    steps end in (``at="image"``)."""
    if at not in WHERE:
        raise ValueError(f"at must be one of {WHERE}; got {at!r}")
    points = np.concatenate([x_t[None], x_t + offsets])
    outputs = pm.predict(points, t) if at == "posterior mean" else pm.images(points, t, steps)
    flat = outputs.reshape(len(outputs), -1)
    return flat[1:] - flat[0]


def linearity_table(pm, x_ts, t, directions_per_input, strengths, steps, at="posterior mean") -> pd.DataFrame:
    """Local linearity: the change (of the posterior mean at ``t``, or of the final image) against
    lambda, per input and direction.

    ``R^2`` of the fit ``change(lambda) = lambda g`` (one g over all strengths,
    least squares), ``1 - sum |change - lambda g|^2 / sum |change|^2``; and the
    odd-symmetry error ``|change(l) + change(-l)| / (|change(l)| + |change(-l)|)``
    at the largest strength.
    """
    strengths = np.asarray(strengths, float)
    rows = []
    for i, (x, directions) in enumerate(zip(x_ts, directions_per_input, strict=True)):
        for j, v in enumerate(directions.T):
            change = _changes(pm, x, t, strengths[:, None] * v, steps, at)
            g = strengths @ change / (strengths @ strengths)
            residual = ((change - strengths[:, None] * g) ** 2).sum()
            top, bottom = np.argmax(strengths), np.argmin(strengths)
            odd = np.linalg.norm(change[top] + change[bottom]) / (
                np.linalg.norm(change[top]) + np.linalg.norm(change[bottom])
            )
            rows.append(
                {
                    "input": i,
                    "direction": j,
                    "R2": 1 - residual / (change**2).sum(),
                    "odd-symmetry error": odd,
                    "change norm (largest lambda)": float(np.linalg.norm(change[top])),
                }
            )
    return pd.DataFrame(rows)


def transfer_table(
    pm, directions_per_input, x_ts, t, strength, steps, random_count, seed, sources=None
) -> pd.DataFrame:
    """Homogeneity / transfer: directions found elsewhere applied to the noisy inputs ``x_ts``.

    gain: the image change of ``x + strength v`` over the mean change of
    ``x + strength u`` for ``random_count`` random unit directions u (1: no
    better than a random push). The directions may come from another input at
    the same t, or from the same input at another t.

    sources: per input, ``(x, t)`` of the input the directions were found on. Then ``consistency``: the
    cosine of the
    direction's image change on the target with its change on the source, whether it makes *the same
    edit* there (a push of the same size could edit something else); ``random consistency``: the same
    cosine for the random directions, averaged (what any push shares between two images).
    """
    rng = seeds.rng(seed, "editing-random-directions")
    rows = []
    for i, (x, directions) in enumerate(zip(x_ts, directions_per_input, strict=True)):
        randoms = rng.standard_normal((random_count, pm.dim))
        randoms /= np.linalg.norm(randoms, axis=1, keepdims=True)
        offsets = strength * np.concatenate([directions.T, randoms])
        changes = _changes(pm, x, t, offsets, steps, "image")
        norms = np.linalg.norm(changes, axis=1)
        k = directions.shape[1]
        baseline = norms[k:].mean()
        if sources is not None:
            reference = _changes(pm, sources[i][0], sources[i][1], offsets, steps, "image")
            cosines = np.sum(changes * reference, axis=1) / (
                norms * np.linalg.norm(reference, axis=1) + 1e-12
            )
        for j in range(k):
            row = {"input": i, "direction": j, "gain over random": norms[j] / baseline}
            if sources is not None:
                row |= {"consistency": cosines[j], "random consistency": float(cosines[k:].mean())}
            rows.append(row)
    return pd.DataFrame(rows)


def composability_table(
    pm, x_ts, t, directions_per_input, strength, steps, at="posterior mean"
) -> pd.DataFrame:
    """Composability: ``change(l v_i + l v_j)`` against ``change(l v_i) + change(l v_j)`` for the pairs of
    the first three directions (of the posterior mean at ``t``, or of the final image); relative error
    ``|both - (one + other)| / |both|``."""
    rows = []
    for n, (x, directions) in enumerate(zip(x_ts, directions_per_input, strict=True)):
        k = min(directions.shape[1], 3)
        for i in range(k):
            for j in range(i + 1, k):
                vi, vj = strength * directions[:, i], strength * directions[:, j]
                one, other, both = _changes(pm, x, t, np.stack([vi, vj, vi + vj]), steps, at)
                rows.append(
                    {
                        "input": n,
                        "pair": f"v{i + 1}+v{j + 1}",
                        "relative error": np.linalg.norm(both - one - other) / np.linalg.norm(both),
                    }
                )
    return pd.DataFrame(rows)


def region_mask(pm: PosteriorMean, region: str) -> tuple[np.ndarray, Callable]:
    """``(inside over the flattened input, inside over the image pixels)`` for ``region`` ("top" or
    "left" half). A latent's mask covers every channel at the chosen positions."""
    if region not in ("top", "left"):
        raise ValueError(f"region must be 'top' or 'left'; got {region!r}")
    h, w = pm.shape[-2:]
    grid = np.zeros((h, w), bool)
    if region == "top":
        grid[: h // 2] = True
    else:
        grid[:, : w // 2] = True
    inside = np.broadcast_to(grid, pm.shape).ravel()

    def on_image(image_shape):
        scale = image_shape[0] // h
        return np.kron(grid, np.ones((scale, scale), bool))

    return inside, on_image


def locality_table(pm, x_ts, t, region, outside_rank, strength, steps):
    """LOCO Edit's localized edit against two controls, per input: the share of the image change's energy
    inside the region for the masked direction projected off the outside's top subspace (LOCO), the
    masked direction alone, and the global top direction. Returns ``(table, LOCO directions (d, N))``."""
    inside, on_image = region_mask(pm, region)
    pixels = on_image(pm.to_images(x_ts[:1])[0].shape).ravel()
    rows, directions = [], []
    for i, x in enumerate(x_ts):
        jac = pm.jacobian(x, t)
        loco = masked_direction(jac, inside, outside_rank)
        vectors = np.stack([loco, masked_direction(jac, inside, 0), top_directions(jac, 1)[0][:, 0]])
        changes = _changes(pm, x, t, strength * vectors, steps, "image")
        shares = (changes[:, pixels] ** 2).sum(axis=1) / (changes**2).sum(axis=1)
        directions.append(loco)
        rows.append(
            {
                "input": i,
                "masked + projected (LOCO)": shares[0],
                "masked only": shares[1],
                "global top direction": shares[2],
                "region's share of pixels": pixels.mean(),
            }
        )
    return pd.DataFrame(rows).set_index("input"), np.stack(directions, axis=1)


# --- 3. watermark ---------------------------------------------------------------------------------


@dataclass
class WatermarkResult:
    table: pd.DataFrame  # one row per method and corruption: AUC, PSNR, pixel cosine
    images: dict  # {"unmarked" | "null space" | "plain": images}
    visibility: pd.DataFrame  # per sample: |J d| of the null-space and plain mark directions
    states: dict  # noisy states at the watermark timestep, per method (for the descriptors)
    removed_ranks: np.ndarray  # per sample: directions removed from the pattern
    full_rank: int  # samples whose Jacobian had full numerical rank (no null space; weakest direction kept)


def watermark_study(pm, cfg, seed: int) -> WatermarkResult:
    """Shallow Diffuse on ``pm``: the null-space mark against the same pattern unprojected.

    ``2 n`` samples from seeded noise (``n = watermark_images``): the first n
    carry the mark, the other n are the unmarked negatives. Image change: PSNR
    and pixel cosine between each marked image and the same sample unmarked.
    Detection: each (corrupted) image is inverted to ``watermark_timestep`` and
    scored along the unit key pattern; AUC of marked against unmarked.
    """
    n, t = cfg.watermark_images, cfg.watermark_timestep
    noise = seeds.rng(seed, "watermark-noise").standard_normal((2 * n, pm.dim))
    states = ddim_path(pm.predict, pm.alpha_bars, noise, ddim_stops(GENERATION_START, t, cfg.ddim_steps))
    key = seeds.rng(seed, "watermark-key").standard_normal(pm.dim)
    key_unit = key / np.linalg.norm(key)
    null_dirs, plain_dirs, ranks, visibility, full_rank = [], [], [], [], 0
    for x in states[:n]:
        top, sigma = top_directions(pm.jacobian(x, t), pm.dim)
        rank = cfg.watermark_rank or int(numerical_rank(sigma, cfg.rank_tol))
        full_rank += rank >= pm.dim
        # At full numerical rank the null space is empty: the mark keeps the weakest right singular
        # direction (removing all of them would leave only rounding error to normalise).
        rank = min(rank, pm.dim - 1)
        top = top[:, :rank]
        hidden, plain = mark_direction(key, remove=top), mark_direction(key)
        seen = pm.jvp(x, t, np.stack([hidden, plain], axis=1))
        null_dirs.append(hidden)
        plain_dirs.append(plain)
        ranks.append(rank)
        visibility.append(
            {"|J d| null space": np.linalg.norm(seen[:, 0]), "|J d| plain": np.linalg.norm(seen[:, 1])}
        )
    marked = {
        "null space": np.stack(
            [watermark(x, d, cfg.watermark_strength) for x, d in zip(states[:n], null_dirs, strict=True)]
        ),
        "plain": np.stack(
            [watermark(x, d, cfg.watermark_strength) for x, d in zip(states[:n], plain_dirs, strict=True)]
        ),
    }
    images = {"unmarked": pm.images(states, t, cfg.ddim_steps)}
    for method, x in marked.items():
        images[method] = pm.images(x, t, cfg.ddim_steps)
    conditions = [("clean", None, 0.0)] + [
        (f"{kind} {severity:g}", kind, severity) for kind, severity in cfg.watermark_corruptions
    ]
    rows = []
    for label, kind, severity in conditions:

        def recovered(batch, kind=kind, severity=severity):
            if kind is not None:
                batch = corrupt(batch, kind, severity, seeds.derive(seed, "corrupt", kind))
            return pm.invert(pm.from_images(batch), t, cfg.ddim_steps)

        negatives = np.array([detection_score(x, key_unit) for x in recovered(images["unmarked"][n:])])
        for method in ("null space", "plain"):
            positives = np.array([detection_score(x, key_unit) for x in recovered(images[method])])
            flat_m = images[method].reshape(n, -1)
            flat_u = images["unmarked"][:n].reshape(n, -1)
            cosine = (flat_m * flat_u).sum(1) / (
                np.linalg.norm(flat_m, axis=1) * np.linalg.norm(flat_u, axis=1)
            )
            rows.append(
                {
                    "method": method,
                    "corruption": label,
                    "AUC": auc(positives, negatives),
                    "score marked (mean)": positives.mean(),
                    "score unmarked (mean)": negatives.mean(),
                    "PSNR vs unmarked (dB)": float(np.median(psnr(images[method], images["unmarked"][:n]))),
                    "pixel cosine vs unmarked": float(np.median(cosine)),
                }
            )
    states_out = {"unmarked": states[:n], **marked}
    return WatermarkResult(
        pd.DataFrame(rows).set_index(["method", "corruption"]),
        images,
        pd.DataFrame(visibility),
        states_out,
        np.array(ranks),
        int(full_rank),
    )


# --- 4. descriptors -------------------------------------------------------------------------------


def descriptor_table(
    pm: PosteriorMean, groups: dict, t: int, polytope: Polytope
) -> tuple[pd.DataFrame, dict]:
    """psi, nu, delta of the x0-predictor at ``t`` for each group of noisy inputs (same inputs in every
    group, in order); paired Wilcoxon tests of each group against the first (the reference)."""
    geometries: dict[str, LocalGeometry] = {name: pm.geometry(x, t, polytope) for name, x in groups.items()}
    reference = next(iter(groups))
    rows = []
    for name, geom in geometries.items():
        for descriptor in ("psi", "nu", "delta"):
            values, base = getattr(geom, descriptor), getattr(geometries[reference], descriptor)
            diff = values - base
            p = stats.wilcoxon(diff).pvalue if name != reference and np.any(diff != 0) else np.nan
            rows.append(
                {
                    "inputs": name,
                    "descriptor": descriptor,
                    "mean": values.mean(),
                    "mean change vs reference": diff.mean(),
                    "Wilcoxon p": p,
                }
            )
    return pd.DataFrame(rows).set_index(["inputs", "descriptor"]), geometries


# the parts below use the helpers above: imported last, once those exist
from .claims import claims  # noqa: E402
