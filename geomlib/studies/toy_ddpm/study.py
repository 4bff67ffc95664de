"""The toy 2D DDPM study (paper Sec. 3): descriptor maps, on/off-manifold contrasts, nine Gaussians.

``notebooks/toy_ddpm`` calls these functions with a ``ToyDDPMConfig``; the
models and their descriptor arrays are cached (``geomlib.models``) and reused
on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import data as datasets
from ..core import seeds
from ..core.directions import Polytope, polytope_from
from ..core.local_geometry import DESCRIPTORS
from ..core.result import LocalGeometry
from ..methods.manifold import Contrast, contrast, grid_points, region_mean, sample_on_off
from ..methods.metrics import energy_distance
from ..models.mlp_denoiser import MLPDiffusion, ToyGeometrySettings, train_toy_ddpm
from ..settings import (
    Annotated,
    Count,
    Positive,
    at_least,
    each,
    nonempty,
    require,
)
from ..tools.ledger import Z95

__all__ = [
    "ToyStudy",
    "anti_mode_regions",
    "claims",
    "contrast_curves",
    "quality_gate",
    "contrast_table",
    "fit_table",
    "plot_loss",
    "plot_samples_by_checkpoint",
    "region_table",
    "seed_replicates",
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
    import pandas as pd

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

    from ..tools.plotting import plot_samples

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
    from ..methods.quality import DistanceGate

    fit = toy.fit(toy.final if step is None else step)
    return DistanceGate(fit["model"], fit["reference_resample"], fit["reference_gaussian"])


def fit_table(toy: ToyStudy):
    """Energy distance to the data per checkpoint, with the two references (see ``ToyStudy.fit``)."""
    import pandas as pd

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
    import pandas as pd

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
    import pandas as pd

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


# --- the claims ledger, over training seeds --------------------------------------------------------

REGION_RADIUS = (
    0.5  # nine Gaussians: region means over grid points within this distance of a mode / edge / anti-mode
)

# The rebuttal: "at t ~ 0.17T ... the signed difference E_M[Phi] - E_notM[Phi] is minimized for local
# scaling and local rank ... and is maximized for local complexity". "Near 0.17 T": 0.10 T to 0.25 T.
SIGNED_EXTREMA = {"psi": True, "nu": True, "delta": False}  # True: minimized, False: maximized
NEAR_017T = (0.10, 0.25)


def extremum_criterion(cfg: ToyDDPMConfig, name: str):
    from ..tools.ledger import Extremum

    T = cfg.num_timesteps
    return Extremum(lowest=SIGNED_EXTREMA[name], window=(NEAR_017T[0] * T, NEAR_017T[1] * T))


def seed_replicates(cfg: ToyDDPMConfig) -> pd.DataFrame:
    """Per training seed, the numbers the ledger tests (the final checkpoint of each seed's two models).

    Columns: the on-minus-off-manifold contrast of psi, nu and delta at the
    curve's timestep nearest ``contrast_timestep`` with its standard error;
    per descriptor, the timestep where the signed contrast has the extremum
    the rebuttal names (the minimum for psi and nu, the maximum for delta) and
    whether that is inside the window near 0.17 T, resolved outside it, or
    undecided (``Extremum.locate``); and the nine-Gaussian model's mean psi
    near modes, edges and anti-modes at ``contrast_timestep``.
    """
    rows = []
    for seed in cfg.seeds:
        dino = train_toy_model("dino", cfg, seed)
        mixture = train_toy_model("nine_gaussians", cfg, seed)
        curves = dino.on_off_contrasts(dino.final)
        table = contrast_table(dino, {dino.final: curves}, cfg.contrast_timestep)
        focus = [c for c in table.columns if c.startswith("contrast at")][0]
        row = {"seed": seed, "t": int(focus.split("=")[1])}
        timesteps = dino.curve_timesteps()
        for name in DESCRIPTORS:
            row[f"{name} contrast"] = float(table.loc[(dino.final, name), focus])
            row[f"{name} stderr"] = float(table.loc[(dino.final, name), "stderr"])
            where, place = extremum_criterion(cfg, name).locate(
                timesteps, [c.difference for c in curves[name]], [c.stderr for c in curves[name]]
            )
            row[f"{name} {'min' if SIGNED_EXTREMA[name] else 'max'} at t"] = int(where)
            row[f"{name} extremum"] = place
        regions = region_means(mixture, mixture.final, cfg.contrast_timestep, REGION_RADIUS)
        row.update({f"psi near {name}": value for name, value in regions.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("seed")


def _figure(name: str) -> str:
    from ..tools.ledger import REBUTTAL

    return REBUTTAL + name


def claims(cfg: ToyDDPMConfig, replicates: pd.DataFrame) -> list:
    """The toy notebook's ledger: each claim, this run's value over the seeds and the computed verdict."""
    from ..tools.ledger import Claim, EverySeed, Verdict

    seeds_text = f"seeds {', '.join(str(s) for s in replicates.index)}"
    trained = f"final checkpoint, {cfg.train_steps:,} steps (the rebuttal's model: 125,000; preset paper)"
    verdicts = []
    for name, symbol in (("psi", "psi"), ("nu", "nu")):
        claim = Claim(
            f"{name}_lower_on_manifold",
            f"near t = 0.17 T, local {'scaling' if name == 'psi' else 'rank'} {symbol} is lower on the "
            "data manifold than off it (\"local scaling and rank on the manifold is 'lower' than off the "
            'manifold")',
            "paper Sec. 3, Fig. 3; rebuttal on-manifold figure",
            f"E_M[{symbol}] - E_notM[{symbol}] at t = {replicates['t'].iloc[0]}, dino model, {trained}; "
            f"95% interval ({Z95} standard errors)",
            EverySeed(-1, intervals=True),
            _figure("onmanifold_ddpm.png"),
        )
        verdict = claim.verdict(replicates[f"{name} contrast"], replicates[f"{name} stderr"])
        value = ", ".join(
            f"{c:+.3g} ± {Z95 * e:.2g}"
            for c, e in zip(replicates[f"{name} contrast"], replicates[f"{name} stderr"], strict=True)
        )
        verdicts.append(Verdict(claim, f"{value} ({seeds_text})", verdict))

    for name in DESCRIPTORS:
        lowest = SIGNED_EXTREMA[name]
        which = "min" if lowest else "max"
        criterion = extremum_criterion(cfg, name)
        claim = Claim(
            f"{name}_signed_contrast_{which}imized_near_017T",
            f"the signed on-minus-off-manifold difference of {name} is {which}imized near t = 0.17 T "
            f'("the signed difference ... is minimized for local scaling and local rank ... and is '
            'maximized for local complexity")',
            "rebuttal (answer on Fig. 3); paper Sec. 3, Fig. 3",
            f"timestep of the {which}imum of E_M[{name}] - E_notM[{name}] over {cfg.curve_timesteps} noise "
            f"levels, dino model, {trained}",
            criterion,
            _figure("onmanifold_ddpm.png"),
        )
        places = replicates[f"{name} extremum"].tolist()
        value = ", ".join(
            f"t = {t} ({place})" for t, place in zip(replicates[f"{name} {which} at t"], places, strict=True)
        )
        verdicts.append(Verdict(claim, f"{value} ({seeds_text})", criterion.verdict_places(places)))

    between = replicates["psi near edges"] - replicates["psi near modes"]
    claim = Claim(
        "psi_high_between_modes",
        "for a mixture of Gaussians, local scaling is high between the modes",
        "rebuttal nine-Gaussian figure (psi at t = 0.18 T)",
        f"mean psi within {REGION_RADIUS} of the edge midpoints minus within {REGION_RADIUS} of the modes, "
        f"t = {cfg.contrast_timestep}, final checkpoint",
        EverySeed(+1),
        _figure("gaussian_mixture_ddpm.png"),
    )
    verdicts.append(
        Verdict(
            claim,
            f"{', '.join(f'{v:+.3g}' for v in between)} ({seeds_text})",
            claim.verdict(between),
        )
    )
    others = replicates[["psi near edges", "psi near modes"]].max(axis=1)
    anti = replicates["psi near anti_modes"] - others
    claim = Claim(
        "psi_highest_at_anti_modes",
        "local scaling is highest at the anti-modes, the centres of the squares between four modes",
        "rebuttal nine-Gaussian figure (psi at t = 0.18 T)",
        "mean psi near the anti-modes minus the larger of the edge and mode means, "
        f"t = {cfg.contrast_timestep}",
        EverySeed(+1),
        _figure("gaussian_mixture_ddpm.png"),
    )
    verdicts.append(
        Verdict(
            claim,
            f"{', '.join(f'{v:+.3g}' for v in anti)} ({seeds_text})",
            claim.verdict(anti),
        )
    )
    return verdicts
