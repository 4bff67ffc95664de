"""The study itself: its settings, models and tables (the ledger's rows: ``claims.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from tqdm import tqdm

from ... import data as datasets
from ...core import seeds
from ...core.directions import Polytope, polytope_from
from ...core.local_geometry import DESCRIPTORS
from ...core.result import LocalGeometry
from ...methods.manifold import Contrast, contrast, grid_points, region_mean, sample_on_off
from ...methods.metrics import energy_distance
from ...models.mlp_denoiser import MLPDiffusion, ToyGeometrySettings, train_toy_ddpm
from ...settings import (
    Annotated,
    Count,
    Positive,
    at_least,
    each,
    nonempty,
    require,
)

__all__ = [
    "ToyDDPMConfig",
    "ToyStudy",
    "anti_mode_regions",
    "contrast_curves",
    "contrast_table",
    "fit_table",
    "plot_loss",
    "plot_samples_by_checkpoint",
    "quality_gate",
    "region_means",
    "region_table",
    "summary",
    "train_toy_model",
]


# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class ToyDDPMConfig(ToyGeometrySettings):
    """Settings of ``notebooks/toy_ddpm``: 2D DDPMs and their descriptor maps (paper Sec. 3). The models,
    the analysed map, polytope and grid are ``ToyGeometrySettings`` (shared with the reward notebook)."""

    num_samples: Count  # samples drawn from each model to check its fit
    map_timesteps: Annotated[
        tuple[int, ...], nonempty, each(at_least(0))
    ]  # timesteps of the maps (0: least noise)
    manifold_radius: Positive  # M = union of discs of this radius around the training points
    curve_timesteps: Annotated[int, at_least(2)]  # noise levels on the on/off-manifold curves
    contrast_timestep: Annotated[int, at_least(0)]  # the noise level singled out in the summary (0.17 T)
    on_off_points: Count  # Monte Carlo points on M and off M, each
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            num_samples=2_000,
            map_timesteps=(0, 50, 170, 400, 700),
            manifold_radius=0.05,
            curve_timesteps=40,
            contrast_timestep=170,
            on_off_points=4_000,
            progress=True,
        ),
        "smoke": dict(
            num_samples=300,
            map_timesteps=(0, 170, 600),
            curve_timesteps=5,
            on_off_points=200,
            progress=False,
        ),
        "paper": dict(
            num_samples=10_000,
            curve_timesteps=100,
            on_off_points=20_000,
        ),
    }

    def cross_checks(self) -> None:
        super().cross_checks()
        last = self.num_timesteps - 1
        for name in ("map_timesteps", "contrast_timestep"):
            value = getattr(self, name)
            require(
                max(value) <= last if isinstance(value, tuple) else value <= last,
                name,
                f"timesteps in [0, {last}]",
                value,
            )


@dataclass
class ToyStudy:
    """One trained 2D DDPM (``model``, trained with ``seed``) with the notebook's analysis settings."""

    dataset: str
    model: MLPDiffusion
    config: ToyDDPMConfig
    seed: int
    _samples: dict = field(default_factory=dict, repr=False)

    @property
    def data(self) -> np.ndarray:
        return self.model.data

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return self.config.checkpoints

    @property
    def final(self) -> int:
        return self.config.checkpoints[-1]

    @cached_property
    def polytope(self) -> Polytope:
        return polytope_from(self.config, self.seed)  # the model's own training seed

    def samples(self, step: int) -> np.ndarray:
        """``num_samples`` samples of the checkpoint at ``step``; drawn once, then reused (plots and fit)."""
        if step not in self._samples:
            self._samples[step] = self.model.sample(self.config.num_samples, seed=self.seed, checkpoint=step)
        return self._samples[step]

    def geometry(self, step: int, t: int, points: np.ndarray) -> LocalGeometry:
        """psi, nu, delta of the configured map at ``points`` (cached)."""
        return self.model.geometry(
            points, timestep=t, checkpoint=step, kind=self.config.map_kind, polytope=self.polytope
        )

    @cached_property
    def grid(self) -> np.ndarray:
        return grid_points(self.config.grid_size, self.config.grid_limit)

    def descriptor_maps(self, step: int, t: int) -> dict[str, np.ndarray]:
        """psi, nu, delta on the grid, each ``(grid_size, grid_size)`` (row 0 at y = -limit)."""
        size = self.config.grid_size
        return self.geometry(step, t, self.grid).reshape(size, size)

    def fit(self, step: int) -> dict[str, float]:
        """Energy distance of the model's samples to the data, beside two references.

        ``reference_gaussian``: a Gaussian with the data's mean and covariance
        (what a model that learned only the first two moments would reach);
        ``reference_resample``: a fresh draw from the data's own distribution
        (the training points with replacement for the dino; new mixture points
        for the nine Gaussians), the floor set by sample size.
        """
        cfg = self.config
        rng = seeds.rng(self.seed, "fit-references")
        num = cfg.num_samples
        gaussian = rng.multivariate_normal(self.data.mean(0), np.cov(self.data.T), num)
        if self.dataset == "dino":
            resample = self.data[rng.integers(0, len(self.data), num)]
        else:
            resample = datasets.sample_nine_gaussians(
                num, seeds.derive(self.seed, "fit-resample"), std=cfg.mixture_std
            )
        return {
            "model": energy_distance(self.samples(step), self.data),
            "reference_gaussian": energy_distance(gaussian, self.data),
            "reference_resample": energy_distance(resample, self.data),
        }

    def curve_timesteps(self) -> np.ndarray:
        cfg = self.config
        return np.unique(np.linspace(0, cfg.num_timesteps - 1, cfg.curve_timesteps).round().astype(int))

    def on_off_contrasts(self, step: int) -> dict[str, list[Contrast]]:
        """``E_M[phi] - E_notM[phi]`` per descriptor at every curve timestep."""
        cfg = self.config
        on, off = sample_on_off(self.data, cfg.manifold_radius, cfg.grid_limit, cfg.on_off_points, self.seed)
        points = np.concatenate([on, off])
        curves: dict[str, list[Contrast]] = {name: [] for name in DESCRIPTORS}
        timesteps = tqdm(
            self.curve_timesteps(),
            desc=f"on/off contrasts, step {step}",
            disable=not cfg.progress,
            mininterval=5.0,
        )
        for t in timesteps:
            geom = self.geometry(step, int(t), points)
            for name in DESCRIPTORS:
                values = getattr(geom, name)
                curves[name].append(contrast(values[: len(on)], values[len(on) :]))
        return curves


def train_toy_model(dataset: str, cfg: ToyDDPMConfig, seed: int | None = None) -> ToyStudy:
    """Train (or load from the cache) the MLP DDPM on ``dataset`` with every checkpoint of ``cfg``.

    seed: the training seed (default: the first of ``cfg.seeds``, the one whose maps the notebook shows).
    """
    seed = cfg.seeds[0] if seed is None else seed
    return ToyStudy(dataset, train_toy_ddpm(dataset, cfg, seed), cfg, seed)


def anti_mode_regions(spacing: float = 4.0) -> dict[str, np.ndarray]:
    """Centers of the nine-Gaussian grid's modes, edge midpoints between two modes, and anti-modes.

    The anti-modes are the centers of the four squares between four modes,
    the points farthest from every mode inside the grid.
    """
    modes = datasets.nine_gaussian_modes(spacing)
    half = spacing / 2
    edges = [(x, y) for x in (-half, half) for y in (-spacing, 0.0, spacing)]
    edges += [(y, x) for x, y in edges]
    anti = [(x, y) for x in (-half, half) for y in (-half, half)]
    return {"modes": modes, "edges": np.array(edges, np.float32), "anti_modes": np.array(anti, np.float32)}


def region_means(toy: ToyStudy, step: int, t: int, radius: float) -> dict[str, float]:
    """Mean psi near the modes, the edges between modes and the anti-modes (nine Gaussians)."""
    maps = toy.geometry(step, t, toy.grid)
    return {
        name: region_mean(toy.grid, maps.psi, centers, radius)
        for name, centers in anti_mode_regions().items()
    }


# --- tables and figures the notebook shows -------------------------------------------------


def plot_loss(ax, toy: ToyStudy, title: str, window: int = 200) -> None:
    """Training loss (running mean over ``window`` steps), checkpoints marked."""

    losses = pd.Series(toy.model.run.losses).rolling(window, min_periods=1).mean()
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=1)
    for step in toy.checkpoints:
        ax.axvline(step, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(r"$\epsilon$-loss")
    ax.set_title(title, fontsize=10)


def plot_samples_by_checkpoint(models: dict[str, ToyStudy]):
    """One row per dataset, one column per checkpoint: samples over the training points."""
    import matplotlib.pyplot as plt

    from ...tools.plotting import plot_samples

    columns = max(len(m.checkpoints) for m in models.values())
    fig, axes = plt.subplots(len(models), columns, figsize=(2.6 * columns, 2.6 * len(models)), squeeze=False)
    for row, (name, toy) in enumerate(models.items()):
        for col, step in enumerate(toy.checkpoints):
            plot_samples(
                axes[row, col],
                toy.data,
                toy.samples(step),
                title=f"{name.replace('_', ' ')}, step {step}",
                limit=toy.config.grid_limit,
            )
    fig.tight_layout()
    return fig


def quality_gate(toy: ToyStudy, step: int | None = None):
    """The model's quality gate at ``step`` (default: the final checkpoint), from ``ToyStudy.fit``:
    ``geomlib.methods.quality.DistanceGate`` (closer to a fresh draw of the data than to a Gaussian
    with its moments, in energy distance)."""
    from ...methods.quality import DistanceGate

    fit = toy.fit(toy.final if step is None else step)
    return DistanceGate(fit["model"], fit["reference_resample"], fit["reference_gaussian"])


def fit_table(toy: ToyStudy):
    """Energy distance to the data per checkpoint, with the two references (see ``ToyStudy.fit``)."""

    rows = {step: toy.fit(step) for step in toy.checkpoints}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("step").round(4)


def contrast_curves(contrasts: dict[int, dict[str, list[Contrast]]]) -> dict:
    """Reshape ``{step: {descriptor: [Contrast per t]}}`` for ``plotting.plot_contrast_curves``."""
    curves: dict[str, dict] = {name: {} for name in DESCRIPTORS}
    for step, by_name in contrasts.items():
        for name, values in by_name.items():
            curves[name][f"step {step}"] = ([c.difference for c in values], [c.stderr for c in values])
    return curves


def contrast_table(toy: ToyStudy, contrasts: dict, t_focus: int):
    """Per checkpoint and descriptor: the contrast nearest ``t_focus`` and where |contrast| peaks."""

    timesteps = toy.curve_timesteps()
    near = int(np.argmin(np.abs(timesteps - t_focus)))
    rows = []
    for step, by_name in contrasts.items():
        for name, values in by_name.items():
            diffs = np.array([c.difference for c in values])
            peak = int(np.argmax(np.abs(diffs)))
            rows.append(
                {
                    "step": step,
                    "descriptor": name,
                    f"contrast at t={timesteps[near]}": diffs[near],
                    "stderr": values[near].stderr,
                    "peak contrast": diffs[peak],
                    "peak at t": int(timesteps[peak]),
                    "points on / off": f"{values[near].num_on} / {values[near].num_off}",
                }
            )
    return pd.DataFrame(rows).set_index(["step", "descriptor"]).round(4)


def region_table(toy: ToyStudy, timesteps, radius: float = 0.5):
    """Mean psi near modes, edges and anti-modes of the nine-Gaussian grid, per timestep."""

    rows = {int(t): region_means(toy, toy.final, int(t), radius) for t in timesteps}
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("t")
    table["highest"] = table.idxmax(axis=1)
    return table.round(3)


def summary(models: dict[str, ToyStudy], fits: dict, contrasts: dict, psi_by_region) -> dict:
    """The numbers the figures show, for the closing printout."""
    dino = models["dino"]
    final = dino.final
    t_focus = dino.config.contrast_timestep
    table = contrast_table(dino, {final: contrasts[final]}, t_focus)
    focus_column = [c for c in table.columns if c.startswith("contrast at")][0]
    return {
        "energy_distance_final": {
            name: {k: float(v) for k, v in fits[name].loc[models[name].final].items()} for name in models
        },
        "dino_on_minus_off_at_final_step": {
            name: {
                focus_column: float(table.loc[(final, name), focus_column]),
                "stderr": float(table.loc[(final, name), "stderr"]),
                "peak at t": int(table.loc[(final, name), "peak at t"]),
            }
            for name in DESCRIPTORS
        },
        "nine_gaussians_mean_psi": {
            f"t={t}": {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()}
            for t, row in psi_by_region.iterrows()
        },
    }
