"""The Stable Diffusion study (paper Sec. 4: Figs. 4, 6, 8, the level sets) on a latent diffusion pipeline.

``notebooks/stable_diffusion`` loads the model with
``geomlib.models.latent_diffusion.load_latent_diffusion`` (SD 1.4, or a small
latent diffusion model trained here on MNIST) and runs the same analyses on
either, with the decoder as the main map (as the paper's authors did) and the
UNet's noise prediction beside it:

- a latent slice through three generated latents (Fig. 4), exact Jacobians
  and a sketch beside them on the small model;
- level sets of generated samples and their Vendi score per psi level set;
- corruptions of real images, encoded (Fig. 6);
- descriptors along the denoising trajectories of memorized against ordinary
  prompts (Fig. 8), tested with the prompt, not the sample, as the unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ...core import seeds
from ...core.directions import Polytope, Sketch, polytope_from, sketch_from
from ...core.local_geometry import DESCRIPTORS
from ...core.result import LocalGeometry
from ...data import load_image_folder, mnist_32, read_prompts
from ...methods.analysis import vendi_per_level_set, vendi_rise_and_drop
from ...methods.images import corrupt
from ...methods.quality import ClassGate, class_gate, matching_real
from ...models.base import geometry_in_shards
from ...models.digit_classifier import digit_classifier
from ...models.latent_diffusion import DIGIT_PROMPTS, LatentDiffusion
from .settings import SDConfig

__all__ = [
    "SDConfig",
    "DESCRIPTORS",
    "claims",
    "corruption_tests",
    "cross_guidance_tests",
    "Plane",
    "PlanePoints",
    "Probes",
    "copy_rate_samples",
    "decoder_ceiling",
    "check_inputs",
    "plan",
    "final_latent_verdicts",
    "copy_rates",
    "copy_table",
    "corruption_study",
    "level_ledger_inputs",
    "level_set_samples",
    "memorization_groups",
    "memorization_study",
    "memorization_tests",
    "memorized_prompts",
    "plane_through",
    "quality_gate",
    "sample_gate",
    "real_images",
    "severity_trends",
    "slice_tests",
    "spatial_roughness",
    "inside_anchor_hull",
    "subset",
    "summary",
    "test_summary",
]


@dataclass(frozen=True)
class Probes:
    """How a notebook config asks for descriptors: the sketch (None: exact), the polytope, the maps, and
    the shards (``geometry_in_shards``: resumable, shared by ``worker`` processes)."""

    sketch: Sketch | None
    polytope: Polytope
    maps: tuple[str, ...]  # the first is the main one
    shard_size: int | None = None
    worker: str = "0/1"

    @classmethod
    def from_config(cls, cfg: SDConfig) -> Probes:
        return cls(sketch_from(cfg), polytope_from(cfg), tuple(cfg.maps), cfg.shard_size, cfg.shard_worker)

    def geometry(
        self, model: LatentDiffusion, latents: np.ndarray, kind: str, timestep: int = 0, **map_args
    ) -> LocalGeometry:
        """The descriptors of map ``kind`` at ``latents`` (``timestep``, prompt and guidance: UNet only),
        ``shard_size`` latents per cached call."""

        def rows(part: slice) -> LocalGeometry:
            if kind == "decoder":
                return model.geometry(
                    latents[part], kind="decoder", sketch=self.sketch, polytope=self.polytope
                )
            return model.geometry(
                latents[part],
                kind="unet",
                timestep=timestep,
                sketch=self.sketch,
                polytope=self.polytope,
                **map_args,
            )

        return geometry_in_shards(rows, len(latents), self.shard_size, self.worker)


@dataclass(frozen=True)
class PlanePoints:
    """The grid points of a :class:`Plane`, ``origin + a_i u + b_i v``, computed when indexed.

    At the paper's 512 x 512 grid of 16,384-dim latents all the points take 16 GiB of host memory in
    float32 (64 GiB in float64); a shard of them (``geometry_in_shards``) is computed when the shard asks
    for it, so a process holds its shard only. Values are computed in float64 and stored in float32,
    row by row, so a point is the same whichever rows are asked for with it. ``np.asarray`` gives all
    of them, ``points[rows]`` (a slice or an index array) some, shape ``(rows, *latent_shape)``.
    """

    origin: np.ndarray  # (D,) float64: the first anchor
    u: np.ndarray  # (D,) float64, unit
    v: np.ndarray  # (D,) float64, unit, orthogonal to u
    a: np.ndarray  # (grid * grid,) each point's coordinate along u
    b: np.ndarray  # (grid * grid,) each point's coordinate along v
    latent_shape: tuple[int, ...]
    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.a)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.latent_shape)

    def __getitem__(self, rows) -> np.ndarray:
        a, b = np.atleast_1d(self.a[rows]), np.atleast_1d(self.b[rows])
        points = np.empty((len(a), len(self.origin)), np.float32)
        for start in range(0, len(a), PLANE_ROWS):  # float64 temporaries for PLANE_ROWS points at a time
            block = slice(start, start + PLANE_ROWS)
            points[block] = self.origin + a[block, None] * self.u + b[block, None] * self.v
        points = points.reshape(len(a), *self.latent_shape)
        return points[0] if np.ndim(self.a[rows]) == 0 else points

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        points = self[:]
        return points if dtype is None else points.astype(dtype)


@dataclass
class Plane:
    """A grid on the plane through three latents."""

    points: PlanePoints  # grid * grid latents, row-major: rows follow v, columns follow u
    anchor_coords: np.ndarray  # (3, 2) the anchors' (u, v) coordinates
    extent: tuple[float, float, float, float]  # (u_min, u_max, v_min, v_max) for imshow
    grid: int


def plane_through(anchors: np.ndarray, grid: int, margin: float) -> Plane:
    """A ``grid`` x ``grid`` lattice on the plane through three latents (Gram-Schmidt from the first).

    Coordinates: the first anchor is the origin, u points to the second, v is
    the part of the third orthogonal to u. The grid is square and covers the
    anchors' bounding box widened by ``margin`` of its size on every side. The
    points are computed when asked for (:class:`PlanePoints`).
    """
    if len(anchors) != 3:
        raise ValueError(f"anchors must be three latents; got {len(anchors)}")
    flat = anchors.reshape(3, -1).astype(np.float64)
    origin = flat[0]
    u = flat[1] - origin
    v = flat[2] - origin
    if np.linalg.norm(u) == 0:
        raise ValueError("the first two anchors are equal; they span no plane")
    u /= np.linalg.norm(u)
    v -= (v @ u) * u
    if np.linalg.norm(v) < 1e-8 * np.linalg.norm(flat[2] - origin) or np.linalg.norm(v) == 0:
        raise ValueError("the three anchors are collinear; they span no plane")
    v /= np.linalg.norm(v)
    coords = np.stack([(flat - origin) @ u, (flat - origin) @ v], axis=1)
    low, high = coords.min(0), coords.max(0)
    half = (high - low).max() * (0.5 + margin)
    center = (low + high) / 2
    axis_u = np.linspace(center[0] - half, center[0] + half, grid)
    axis_v = np.linspace(center[1] - half, center[1] + half, grid)
    a, b = (values.ravel() for values in np.meshgrid(axis_u, axis_v))
    points = PlanePoints(origin, u, v, a, b, tuple(anchors.shape[1:]))
    extent = (axis_u[0], axis_u[-1], axis_v[0], axis_v[-1])
    return Plane(points, coords, extent, grid)


PLANE_ROWS = 4096  # slice points computed at once (float64 temporaries)


def subset(geom: LocalGeometry, rows: np.ndarray) -> LocalGeometry:
    """The descriptors of the inputs ``rows`` only."""

    def pick(values):
        return None if values is None else np.asarray(values)[rows]

    return LocalGeometry(
        psi=pick(geom.psi),
        nu=pick(geom.nu),
        rank=pick(geom.rank),
        delta=pick(geom.delta),
        delta_by_layer={name: values[rows] for name, values in geom.delta_by_layer.items()},
        sigma=pick(geom.sigma),
        settings=geom.settings,
    )


# --- level sets ----------------------------------------------------------------------------------------


def level_set_prompts(model: LatentDiffusion, cfg: SDConfig) -> list[str]:
    """``level_set_samples`` prompts: the digit prompts cycled (small model) or ``level_prompts_file``."""
    prompts = list(DIGIT_PROMPTS) if cfg.sd_model == "small" else read_prompts(cfg.level_prompts_file)
    return [prompts[i % len(prompts)] for i in range(cfg.level_set_samples)]


def level_set_latents(model: LatentDiffusion, cfg: SDConfig):
    """The level sets' prompts and the final latents the sampler draws for them."""
    prompts = level_set_prompts(model, cfg)
    latents = model.sample(
        prompts,
        seed=seeds.derive(cfg.seed, "level-sets"),
        steps=cfg.sample_steps,
        guidance=cfg.level_guidance,
    )
    return prompts, latents


def sample_gate(model: LatentDiffusion, cfg: SDConfig) -> ClassGate | None:
    """``quality_gate`` of the level sets' samples, drawn here (what ``make models`` records)."""
    return quality_gate(model.decode(level_set_latents(model, cfg)[1]), cfg)


def level_set_samples(model: LatentDiffusion, cfg: SDConfig, probes: Probes):
    """Generated samples, their decoded images and the main map's descriptors at their final latents.

    Returns ``(frame, images)``: one row per sample (prompt, psi, nu, delta).
    """
    prompts, latents = level_set_latents(model, cfg)
    geom = probes.geometry(model, latents, probes.maps[0])
    frame = geom.to_frame()[list(DESCRIPTORS)]
    frame["prompt"] = prompts
    return frame, model.decode(latents)


def level_set_vendi(images: np.ndarray, frame: pd.DataFrame, cfg: SDConfig) -> pd.DataFrame:
    """Vendi of the decoded images per psi level set, equal-width and equal-count, at equal subsample size."""
    return vendi_per_level_set(
        images, frame["psi"].to_numpy(), cfg.level_bins, cfg.vendi_subsample, cfg.vendi_repeats, cfg.seed
    )


def inside_anchor_hull(plane: Plane) -> np.ndarray:
    """Whether each grid point of ``plane`` lies inside the triangle of its three anchors (barycentric
    coordinates all >= 0), in the grid's row-major order."""
    u = np.linspace(plane.extent[0], plane.extent[1], plane.grid)
    v = np.linspace(plane.extent[2], plane.extent[3], plane.grid)
    a, b = np.meshgrid(u, v)
    points = np.stack([a.ravel(), b.ravel()], axis=1)
    corner, edges = plane.anchor_coords[0], plane.anchor_coords[1:] - plane.anchor_coords[0]
    weights = np.linalg.solve(edges.T, (points - corner).T).T  # coordinates along the two edges
    return (weights >= 0).all(axis=1) & (weights.sum(axis=1) <= 1)


def _standardized_difference(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's d: (mean of ``first`` - mean of ``second``) / pooled standard deviation."""
    pooled = np.sqrt(
        ((len(first) - 1) * first.var(ddof=1) + (len(second) - 1) * second.var(ddof=1))
        / (len(first) + len(second) - 2)
    )
    return float((first.mean() - second.mean()) / pooled) if pooled > 0 else float("nan")


def spatial_roughness(values: np.ndarray, grid: int) -> float:
    """Mean absolute difference between horizontally and vertically neighbouring grid points of the
    standardized map (z-scored over the slice): how sharply it changes, comparable across descriptors."""
    values = np.asarray(values, np.float64)
    spread = values.std()
    if spread == 0:
        return 0.0
    z = ((values - values.mean()) / spread).reshape(grid, grid)
    return float(
        np.concatenate([np.abs(np.diff(z, axis=0)).ravel(), np.abs(np.diff(z, axis=1)).ravel()]).mean()
    )


def slice_tests(model: LatentDiffusion, plane: Plane, geom: LocalGeometry, cfg: SDConfig) -> dict:
    """The numbers of the rebuttal's readings of Fig. 4 on the main map's slice: nu inside against
    outside the anchors' triangle (Cohen's d), the spatial roughness of the standardized psi, nu and
    delta maps, and (small model) an artifact proxy of the decoded slice latents, the digit classifier's
    largest class probability, inside against outside. Grid points are neighbours on one plane, not
    independent samples, so the criteria ask for effect sizes, not p-values."""
    inside = inside_anchor_hull(plane)
    out = {
        "points inside": int(inside.sum()),
        "points outside": int((~inside).sum()),
        "nu d (outside - inside)": _standardized_difference(geom.nu[~inside], geom.nu[inside]),
        # "there exist parts ... that have higher rank": the share of outside points above the inside
        # points' 95th percentile (5% by chance when nu does not depend on the side)
        "nu share outside above inside q95": (
            float(np.mean(geom.nu[~inside] > np.percentile(geom.nu[inside], 95)))
            if inside.any() and (~inside).any()
            else float("nan")
        ),
        "roughness": {d: spatial_roughness(getattr(geom, d), plane.grid) for d in DESCRIPTORS},
        "confidence d (inside - outside)": None,
    }
    if cfg.sd_model == "small" and inside.any() and (~inside).any():
        confidence = _digit_classifier(cfg)(model.decode(np.asarray(plane.points))).max(axis=1)
        out["confidence d (inside - outside)"] = _standardized_difference(
            confidence[inside], confidence[~inside]
        )
        out["confidence inside / outside"] = (
            float(confidence[inside].mean()),
            float(confidence[~inside].mean()),
        )
    return out


GATE_RATIO = 0.9  # the gate: class accuracy on the samples >= 0.9 x the classifier's on real test digits


def _digit_classifier(cfg: SDConfig):
    """The project's digit classifier on the small model's 32 x 32 training digits."""
    train_images, train_labels, _, _ = mnist_32(cfg.seed)
    return digit_classifier(train_images, train_labels, cfg.seed)


def quality_gate(images: np.ndarray, cfg: SDConfig) -> ClassGate | None:
    """The small model's quality gate (``geomlib.methods.quality``) on the level-set samples: the digit
    classifier on each image against the digit its prompt names, beside as many real test digits of the
    same digits. None for a pretrained model (its prompts name no digit)."""
    if cfg.sd_model != "small":
        return None
    labels = np.arange(len(images)) % len(DIGIT_PROMPTS)  # level_set_prompts cycles the digit prompts
    _, _, test_images, test_labels = mnist_32(cfg.seed)
    chosen = matching_real(labels, test_labels)
    return class_gate(
        _digit_classifier(cfg), images, labels, test_images[chosen], test_labels[chosen], GATE_RATIO
    )


def level_ledger_inputs(images: np.ndarray, frame: pd.DataFrame, cfg: SDConfig) -> dict:
    """What the ledger tests on the level-set samples beyond the figures: the Vendi rise and drop over
    the psi level sets with bootstrap intervals, and per image its visual complexity and (small model)
    the digit classifier's confidence in the digit its prompt names."""
    from ...methods.complexity import image_proxies

    per_image = frame[list(DESCRIPTORS)].assign(**image_proxies(images))
    outcomes = {"compressed size": per_image.assign(outcome=per_image["compressed size"])}
    if cfg.sd_model == "small":
        labels = np.arange(len(images)) % len(DIGIT_PROMPTS)
        confidence = _digit_classifier(cfg)(images)[np.arange(len(images)), labels]
        outcomes["confidence"] = per_image.assign(outcome=confidence)
    psi = frame["psi"].to_numpy()
    return {
        "vendi": {
            scheme: vendi_rise_and_drop(images, psi, cfg.level_bins, cfg.vendi_subsample, cfg.seed, scheme)
            for scheme in ("equal count", "equal width")
        },
        "per image": per_image,
        "outcomes": {name: part[[*DESCRIPTORS, "outcome"]] for name, part in outcomes.items()},
    }


# --- corruptions ---------------------------------------------------------------------------------------


def real_images(model: LatentDiffusion, cfg: SDConfig) -> np.ndarray:
    """Held-out real images in [0, 1]: MNIST test digits (small model) or ``cfg.image_folder``."""
    if cfg.image_folder is None:
        _, _, test_images, _ = mnist_32(cfg.seed)
        chosen = seeds.rng(cfg.seed, "held-out-images").choice(
            len(test_images), cfg.corruption_images, replace=False
        )
        return test_images[np.sort(chosen)]
    return load_image_folder(cfg.image_folder, model.image_size, cfg.corruption_images, cfg.seed)


def corruption_study(
    model: LatentDiffusion, images: np.ndarray, cfg: SDConfig, probes: Probes
) -> tuple[pd.DataFrame, dict]:
    """Descriptors at the encodings of clean and corrupted images, for every map.

    The UNet map is the unconditional noise prediction at
    ``corruption_timestep``. Returns a frame (one row per map, image, kind and
    severity level; level 0 = clean, shared by both kinds) and the corrupted
    images per ``(kind, level)`` for display.
    """
    frames, shown, latents = [], {}, {}
    for kind, severities in (("blur", cfg.blur_sigmas), ("noise", cfg.noise_stds)):
        for level, severity in enumerate((0.0, *severities)):
            corrupted = (
                images
                if level == 0
                else corrupt(images, kind, severity, seed=seeds.derive(cfg.seed, "corruption", kind, level))
            )
            key = ("clean", 0) if level == 0 else (kind, level)
            if key not in latents:
                latents[key] = model.encode(corrupted)
            shown[kind, level] = corrupted
            for name in probes.maps:
                geom = probes.geometry(model, latents[key], name, timestep=cfg.corruption_timestep)
                frame = geom.to_frame()[list(DESCRIPTORS)]
                frame["image"], frame["kind"], frame["severity"], frame["amount"] = (
                    np.arange(len(images)),
                    kind,
                    level,
                    severity,
                )
                frame["map"] = name
                frames.append(frame)
    return pd.concat(frames, ignore_index=True), shown


def severity_trends(frame: pd.DataFrame) -> pd.DataFrame:
    """Per map, corruption kind and descriptor: median at each level and Spearman's rho with the level."""
    rows = []
    for (name, kind), part in frame.groupby(["map", "kind"], sort=False):
        for descriptor in DESCRIPTORS:
            medians = part.groupby("severity")[descriptor].median()
            result = stats.spearmanr(part["severity"], part[descriptor])
            rows.append(
                {
                    "map": name,
                    "kind": kind,
                    "descriptor": descriptor,
                    **{f"median@{k}": v for k, v in medians.items()},
                    "spearman rho": float(result.statistic),
                    "p": float(result.pvalue),
                    "n": len(part),
                }
            )
    return pd.DataFrame(rows).set_index(["map", "kind", "descriptor"])


# the parts below use the helpers above: imported last, once those exist
from .claims import claims, corruption_tests, final_latent_verdicts  # noqa: E402
from .memorization import (  # noqa: E402
    copy_rate_samples,
    copy_rates,
    copy_table,
    cross_guidance_tests,
    decoder_ceiling,
    memorization_groups,
    memorization_study,
    memorization_tests,
    memorized_prompts,
    summary,
    test_summary,
)
from .plan import check_inputs, plan  # noqa: E402
