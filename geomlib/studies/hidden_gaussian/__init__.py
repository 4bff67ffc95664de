"""The hidden-Gaussian study (Li, Dai & Qu, NeurIPS 2024; MoLRG): small MNIST denoisers trained here.

Memorization to generalization with the training-set size, the trained
denoiser against the Gaussian one of its training set, linearity and linear
distillation, capacity and training time, the Jacobian's rank and the
paper's descriptors, and MoLRG. The math lives in ``geomlib.methods.gaussian_structure``;
``notebooks/hidden_gaussian`` calls these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from ...core import seeds
from ...core.descriptors import numerical_rank
from ...core.directions import polytope_from
from ...methods.gaussian_structure import (
    GaussianDenoiser,
    MoLRG,
    copy_ratio,
    distill_linear,
    generalization_score,
    linearity_score,
    noised,
    relative_error,
    reproducibility_score,
    scales,
)
from ...methods.metrics import nearest_similarity, pair_similarity
from ...models.diffusion import DDPMSchedule, ddim_sample
from ...models.mlp_denoiser import MLPDenoiserConfig, MLPDiffusion, train_mlp_diffusion
from ...models.sscd import to_unit
from ...models.training import TrainSettings
from .settings import HiddenGaussianConfig

__all__ = [
    "HiddenGaussianConfig",
    "Sweep",
    "capacity_gates",
    "capacity_table",
    "denoiser_comparison",
    "disjoint_sets",
    "jacobian_table",
    "molrg_table",
    "quality_gate",
    "run_sweep",
    "scores_table",
    "summary",
    "claims",
    "member_gate",
    "seed_generalization",
    "sweep_gates",
    "sweep_member",
    "train_denoiser",
]


def train_denoiser(
    data: np.ndarray,
    cfg,
    schedule: DDPMSchedule,
    *,
    seed: int,
    width: int | None = None,
    name: str = "hidden_gaussian",
    checkpoints: tuple[int, ...] | None = None,
    digits: bool = True,
) -> MLPDiffusion:
    """Train (or load, cached) the MLP DDPM of ``cfg`` on ``data`` (N, d).

    checkpoints: steps kept, the last one the length of training (default: ``cfg.checkpoints``).
    digits: one of the MNIST denoisers, with the recipe ``make models`` ships (EDM preconditioning and
    the weights' moving average as ``cfg`` says, shipped weights when ``cfg.weights`` says so); False
    for the MoLRG models, residual MLPs trained here (their data are not images).
    """
    checkpoints = tuple(checkpoints or cfg.checkpoints)
    steps = checkpoints[-1]
    config = MLPDenoiserConfig(
        data_dim=data.shape[1],
        hidden=width or cfg.width,
        depth=cfg.depth,
        time_features=cfg.time_features,
        residual=not digits or cfg.sigma_data is None,
        sigma_data=cfg.sigma_data if digits else None,
    )
    ema = cfg.ema if digits else None
    settings = TrainSettings(steps, cfg.batch_size, cfg.learning_rate, seed, checkpoints, ema=ema)
    return train_mlp_diffusion(
        name,
        data,
        config,
        schedule,
        settings,
        keep_sown=True,
        progress=cfg.progress,
        shipped=digits and cfg.weights == "shipped",
    )


@dataclass
class Sweep:
    """Denoisers trained on sets of each size N, their samples from shared noise, and their Gaussian twins.

    Per N: models ``"A0"``, ``"A1"``, ... on the same set A, one per training
    seed (the same data, different seeds: the reproducibility protocol of
    Zhang et al. and Qu's slides), and model ``"B"`` on a disjoint set B with
    the first seed (two models that never saw the same image: a
    generalization test).
    """

    training: dict[int, tuple[np.ndarray, np.ndarray]]  # N -> (set A, set B)
    models: dict[int, dict[str, MLPDiffusion]]  # N -> {"A0": ..., "A1": ..., "B": ...}
    gaussians: dict[int, GaussianDenoiser]  # N -> fitted to set A
    noise: np.ndarray  # (num_samples, d) shared initial noise
    samples: dict[int, dict[str, np.ndarray]]  # N -> {"A0", ..., "B", "gaussian"} in [-1, 1]

    def same_data_names(self, size: int) -> list[str]:
        return [name for name in self.models[size] if name.startswith("A")]


def disjoint_sets(train: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint training sets of ``size`` images (fixed seeded order: growing N is nested)."""
    if 2 * size > len(train):
        raise ValueError(
            f"train_sizes: {size} needs {2 * size} training images for two disjoint sets; have {len(train)}"
        )
    order = seeds.rng(seed, "disjoint-sets").permutation(len(train))
    half = len(train) // 2
    return train[np.sort(order[:size])], train[np.sort(order[half : half + size])]


def sweep_member(
    train: np.ndarray, cfg, schedule: DDPMSchedule, size: int, member: str, width: int | None = None
) -> MLPDiffusion:
    """One denoiser of the sweep: ``member`` "A<i>" (set A of ``size`` images, training seed
    ``cfg.seeds[i]``) or "B" (the disjoint set B). Only model A0 at ``capacity_size`` and the main width
    keeps the intermediate checkpoints (the training-time study reads them); the others keep the last."""
    first = cfg.seeds[0]
    set_a, set_b = disjoint_sets(train, size, first)
    main = size == cfg.capacity_size and member == "A0" and width in (None, cfg.width)
    checkpoints = cfg.checkpoints if main else (cfg.train_steps,)
    if member == "B":
        seed, data = seeds.derive(first, "model-B"), set_b
    else:
        seed, data = cfg.seeds[int(member[1:])], set_a
    return train_denoiser(data, cfg, schedule, seed=seed, width=width, checkpoints=checkpoints)


def run_sweep(
    train: np.ndarray, cfg, schedule: DDPMSchedule, sizes=None, width=None, seeds_used=None, progress=False
) -> Sweep:
    """Per N: a model per training seed on set A, one on the disjoint set B; DDIM from shared noise."""
    sizes = tuple(sizes or cfg.train_sizes)
    count = len(seeds_used or cfg.seeds)
    first = cfg.seeds[0]
    noise = seeds.rng(first, "ddim-noise").standard_normal((cfg.num_samples, train.shape[1]))
    sweep = Sweep({}, {}, {}, noise, {})
    for size in sizes:
        set_a, set_b = disjoint_sets(train, size, first)
        models = {
            name: sweep_member(train, cfg, schedule, size, name, width)
            for name in [*(f"A{i}" for i in range(count)), "B"]
        }
        gaussian = GaussianDenoiser.fit(set_a)
        sweep.training[size] = (set_a, set_b)
        sweep.models[size] = models
        sweep.gaussians[size] = gaussian
        sweep.samples[size] = {name: model.ddim(noise, cfg.sample_steps) for name, model in models.items()}
        sweep.samples[size]["gaussian"] = ddim_sample(
            lambda x, t, g=gaussian: g(x, schedule, t), schedule, noise, cfg.sample_steps
        )
    return sweep


def quality_gate(train: np.ndarray, test: np.ndarray, cfg):
    """``samples -> ConfidenceGate``: the unconditional quality gate (``geomlib.methods.quality``) of
    samples in the notebook's layout (pooled digits in [-1, 1]): the share the project's digit
    classifier, trained on ``train``, is confident about (> 0.9), against every real ``test`` digit;
    it passes at 0.9 x the real digits' share. A model that only makes blobs is not "generalizing"."""
    from ...data import mnist_vector_labels
    from ...methods.quality import confidence_gate
    from ...models.digit_classifier import digit_classifier

    train_labels, _ = mnist_vector_labels(cfg.seeds[0])
    classify = digit_classifier(train, train_labels[: len(train)], cfg.seeds[0])
    return lambda samples: confidence_gate(classify, samples, test)


def member_gate(model: MLPDiffusion, train: np.ndarray, test: np.ndarray, cfg):
    """One denoiser's quality gate (``quality_gate``) on the samples the sweep draws from it: DDIM with
    ``sample_steps`` from the sweep's shared noise."""
    noise = seeds.rng(cfg.seeds[0], "ddim-noise").standard_normal((cfg.num_samples, train.shape[1]))
    return quality_gate(train, test, cfg)(model.ddim(noise, cfg.sample_steps))


def sweep_gates(sweep: Sweep, quality) -> dict:
    """Every model's quality gate, by name ("N=64 A1"), from its samples in the sweep."""
    return {
        f"N={size} {name}": quality(samples[name])
        for size, samples in sweep.samples.items()
        for name in sweep.models[size]
    }


def capacity_gates(capacity: pd.DataFrame, cfg) -> dict:
    """The capacity study's two models that the ledger reads besides the sweep's: the smallest width and
    the main width's earliest checkpoint, each passed or failed by its samples' gate (``quality_gate``,
    in ``capacity_table``'s column)."""
    if "quality gate passed" not in capacity:
        return {}
    main = capacity[capacity["width"] == cfg.width].sort_values("step")
    smallest = capacity[
        (capacity["width"] == capacity["width"].min()) & (capacity["step"] == cfg.train_steps)
    ]
    return {
        "capacity: smallest width": bool(smallest["quality gate passed"].iloc[0]),
        "capacity: earliest step": bool(main["quality gate passed"].iloc[0]),
    }


def scores_table(sweep: Sweep, threshold: float, features=to_unit, quality=None) -> pd.DataFrame:
    """Per N: generalization (every seed, and their mean), reproducibility under both protocols.

    ``reproducibility (same data)``: the mean over pairs of seeds of the share
    of equal-noise sample pairs more similar than ``threshold``;
    ``reproducibility (disjoint sets)``: the same for model A0 against model B.
    quality: ``quality_gate``'s function; adds the share of model A0's samples that look like a digit
    and whether it passes the gate.
    """
    rows = []
    for size, samples in sweep.samples.items():
        set_a = features(sweep.training[size][0])
        names = sweep.same_data_names(size)
        a = {name: features(samples[name]) for name in names}
        b, gaussian = features(samples["B"]), features(samples["gaussian"])
        generalization = [generalization_score(a[name], set_a, threshold) for name in names]
        pairs = list(combinations(names, 2))
        same = [reproducibility_score(a[x], a[y], threshold) for x, y in pairs]
        nearest, _ = nearest_similarity(a["A0"], set_a)
        rows.append(
            {
                "N": size,
                "generalization": generalization[0],
                "generalization (mean over seeds)": float(np.mean(generalization)),
                "generalization (s.d. over seeds)": float(np.std(generalization)),
                "reproducibility (same data)": float(np.mean(same)) if same else np.nan,
                "reproducibility (disjoint sets)": reproducibility_score(a["A0"], b, threshold),
                "median nearest-training similarity": float(np.median(nearest)),
                "median A-B similarity": float(np.median(pair_similarity(a["A0"], b))),
                "median similarity to Gaussian sample": float(np.median(pair_similarity(a["A0"], gaussian))),
                "seed pairs": len(pairs),
                **_quality_columns(quality, samples["A0"]),
            }
        )
    return pd.DataFrame(rows).set_index("N")


def _quality_columns(quality, samples) -> dict:
    if quality is None:
        return {}
    gate = quality(samples)
    return {"looks like a digit": gate.share, "quality gate passed": gate.passed}


def seed_generalization(sweep: Sweep, threshold: float, features=to_unit) -> pd.DataFrame:
    """Generalization score per N and training seed (rows: N; columns: the same-data models)."""
    table = {
        size: {
            name: generalization_score(
                features(sweep.samples[size][name]), features(sweep.training[size][0]), threshold
            )
            for name in sweep.same_data_names(size)
        }
        for size in sweep.samples
    }
    return pd.DataFrame.from_dict(table, orient="index").rename_axis("N")


def denoiser_comparison(
    sweep: Sweep, test: np.ndarray, cfg, schedule: DDPMSchedule, model_name: str = "A0"
) -> pd.DataFrame:
    """Per N and noise level: a trained denoiser against its Gaussian twin and linear distillation.

    Columns: ``gaussian gap`` (relative squared difference of the outputs of
    the trained and Gaussian denoisers on noised held-out digits), ``linearity``
    (mean linearity score over random pairs), ``distilled gap`` (relative
    Frobenius distance between the least-squares linear fit of the trained
    denoiser and the Gaussian filter's matrix) and ``distilled fit`` (relative
    squared error of that linear fit on fresh inputs).
    """
    rows = []
    first = cfg.seeds[0]
    rng = seeds.rng(first, "linearity-pairs")
    inputs = test[: cfg.test_inputs]
    for size, models in sweep.models.items():
        model, gaussian = models[model_name], sweep.gaussians[size]
        for t in cfg.noise_levels:
            x_t = noised(inputs, schedule, t, seeds.derive(first, "comparison-inputs"))
            trained = model.posterior_mean(x_t, timestep=t)
            gap = relative_error(trained, gaussian(x_t, schedule, t))
            pairs = rng.integers(0, len(inputs), (cfg.linearity_pairs, 2))
            center = scales(schedule, t)[0] * gaussian.mean
            linear = linearity_score(
                lambda x, m=model, t=t: m.posterior_mean(x, timestep=t),
                x_t[pairs[:, 0]],
                x_t[pairs[:, 1]],
                center,
            )
            fit_inputs = noised(
                test[rng.integers(0, len(test), cfg.distill_inputs)],
                schedule,
                t,
                seeds.derive(first, "distill-inputs"),
            )
            weights, offset = distill_linear(
                lambda x, m=model, t=t: m.posterior_mean(x, timestep=t), fit_inputs
            )
            reference = gaussian.matrix(schedule, t)
            rows.append(
                {
                    "N": size,
                    "model": model_name,
                    "t": t,
                    # the noise level as EDM's sigma (data in [-1, 1]), the scale the paper's figures use
                    "sigma": float(np.sqrt((1 - schedule.alpha_bars[t]) / schedule.alpha_bars[t])),
                    "gaussian gap": gap,
                    "linearity": float(np.mean(linear)),
                    "distilled gap": float(np.linalg.norm(weights - reference) / np.linalg.norm(reference)),
                    "distilled fit": relative_error(x_t @ weights.T + offset, trained),
                }
            )
    return pd.DataFrame(rows)


def capacity_table(
    train: np.ndarray, cfg, schedule: DDPMSchedule, features=to_unit, progress=False, quality=None
) -> pd.DataFrame:
    """At N = capacity_size: scores for each width (final step) and for each checkpoint of the main width;
    with ``quality`` (``quality_gate``'s function), the share of samples that look like a digit and
    whether they pass the gate."""
    rows = []
    for width in (*cfg.capacity_widths, cfg.width):
        sweep = run_sweep(
            train, cfg, schedule, sizes=(cfg.capacity_size,), width=width, seeds_used=cfg.seeds[:1]
        )
        table = scores_table(sweep, cfg.similarity_threshold, features, quality).iloc[0]
        rows.append(
            {
                "width": width,
                "step": cfg.train_steps,
                "generalization": table["generalization"],
                **{k: table[k] for k in ("looks like a digit", "quality gate passed") if k in table},
            }
        )
        if width == cfg.width:
            set_a = sweep.training[cfg.capacity_size][0]
            model = sweep.models[cfg.capacity_size]["A0"]
            for step in model.checkpoints[:-1]:
                drawn = model.ddim(sweep.noise, cfg.sample_steps, checkpoint=step)
                samples = features(drawn)
                nearest, _ = nearest_similarity(samples, features(set_a))
                rows.append(
                    {
                        "width": width,
                        "step": step,
                        "generalization": generalization_score(
                            samples, features(set_a), cfg.similarity_threshold
                        ),
                        "median nearest-training similarity": float(np.median(nearest)),
                        **_quality_columns(quality, drawn),
                    }
                )
    return pd.DataFrame(rows).sort_values(["width", "step"], ignore_index=True)


def jacobian_table(sweep: Sweep, test: np.ndarray, cfg, schedule: DDPMSchedule) -> pd.DataFrame:
    """Per N and noise level: rank ratio (at every tolerance of ``rank_tols``), nu, psi and delta of model
    A0's x0-predictor Jacobian (exact) at held-out inputs, with the Gaussian twin's rank ratio beside it.

    The rank ratio is the number of singular values above ``tol`` times the
    largest, over the dimension (Qu's slides: the posterior-mean predictor's
    "rank ratio"). The same noisy inputs for every model.
    """
    rows = []
    first = cfg.seeds[0]
    polytope = polytope_from(cfg, first)
    inputs = test[-cfg.jacobian_inputs :]
    d = test.shape[1]
    for size, models in sweep.models.items():
        for t in cfg.noise_levels:
            x_t = noised(inputs, schedule, t, seeds.derive(first, "jacobian-inputs")).astype(np.float32)
            geom = models["A0"].geometry(x_t, timestep=t, kind="x0", polytope=polytope, return_sigma=True)
            gains = np.abs(sweep.gaussians[size].gains(schedule, t))
            row = {"N": size, "t": t}
            for tol in cfg.rank_tols:
                row[f"rank ratio @{tol:g}"] = float(np.mean(numerical_rank(geom.sigma, tol)) / d)
                row[f"gaussian rank ratio @{tol:g}"] = float(
                    np.mean(gains > tol * gains.max()) if gains.max() > 0 else 0
                )
            row |= {
                "nu": float(np.mean(geom.nu)),
                "psi": float(np.mean(geom.psi)),
                "delta": float(np.mean(geom.delta)),
            }
            rows.append(row)
    return pd.DataFrame(rows)


def molrg_table(cfg, schedule: DDPMSchedule, progress=False) -> pd.DataFrame:
    """MoLRG in ``molrg_dim`` dimensions: per training seed (the first ``molrg_seeds``), rank r and size
    N, the score error and the share of copies.

    Each seed draws its own mixture, training sets and initialization. score error: relative squared
    error of the trained model's score (its noise prediction) against the closed form on fresh noisy
    samples, averaged over the noise levels. copies: the share of DDIM samples whose nearest training
    point is closer than a third of the second nearest (Yoon et al., 2023).
    """
    rows = []
    for seed in cfg.seeds[: cfg.molrg_seeds]:
        for rank in cfg.molrg_ranks:
            mixture = MoLRG.random(
                cfg.molrg_dim, cfg.molrg_components, rank, seed=seeds.derive(seed, "molrg", rank)
            )
            fresh, _ = mixture.sample(512, seed=seeds.derive(seed, "molrg-fresh"))
            noise = seeds.rng(seed, "molrg-ddim-noise").standard_normal((cfg.num_samples, cfg.molrg_dim))
            for size in cfg.molrg_sizes:
                data, _ = mixture.sample(size, seed=seeds.derive(seed, "molrg-train"))
                model = train_denoiser(
                    data.astype(np.float32),
                    cfg,
                    schedule,
                    seed=seed,
                    width=cfg.molrg_width,
                    name="molrg",
                    checkpoints=(cfg.molrg_steps,),
                    digits=False,
                )
                errors = []
                for t in cfg.noise_levels:
                    s, sigma = scales(schedule, t)
                    x_t = noised(fresh, schedule, t, seeds.derive(seed, "molrg-noised"))
                    # Relative error of the score -eps/sigma, i.e. of the noise prediction: well scaled at
                    # every t (x0 errors are amplified by 1/s at high noise).
                    eps_model = (x_t - s * model.posterior_mean(x_t, timestep=t)) / sigma
                    eps_true = (x_t - s * mixture.posterior_mean(x_t, s, sigma)) / sigma
                    errors.append(relative_error(eps_model, eps_true))
                samples = model.ddim(noise, cfg.sample_steps)
                rows.append(
                    {
                        "seed": seed,
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
    comparison = comparison[(comparison["t"] <= SUMMARY_MAX_T) & (comparison["model"] == "A0")]

    def by(frame, key, column):
        return {str(k): float(v) for k, v in frame.groupby(key)[column].mean().items()}

    ranks = [c for c in jacobians.columns if c.startswith("rank ratio @")]
    gates = {  # model A0's samples per N (the scores table's columns), read by the README's table
        f"quality_gate_N{n}": {
            "share": float(row["looks like a digit"]),
            "passed": bool(row["quality gate passed"]),
        }
        for n, row in scores.iterrows()
        if "quality gate passed" in scores
    }
    return gates | {
        "generalization_by_N": {
            str(n): float(v) for n, v in scores["generalization (mean over seeds)"].items()
        },
        "reproducibility_same_data_by_N": {
            str(n): float(v) for n, v in scores["reproducibility (same data)"].items()
        },
        "reproducibility_disjoint_sets_by_N": {
            str(n): float(v) for n, v in scores["reproducibility (disjoint sets)"].items()
        },
        "similarity_to_gaussian_sample_by_N": {
            str(n): float(v) for n, v in scores["median similarity to Gaussian sample"].items()
        },
        f"gaussian_gap_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "gaussian gap"),
        f"linearity_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "linearity"),
        f"distilled_gap_mean_over_t<={SUMMARY_MAX_T}_by_N": by(comparison, "N", "distilled gap"),
        "capacity_generalization": {
            f"width {int(r.width)} step {int(r.step)}": float(r.generalization) for r in capacity.itertuples()
        },
        "rank_ratio_at_largest_t_by_N": {
            column: {str(n): float(part[column].iloc[-1]) for n, part in jacobians.groupby("N")}
            for column in ranks
        },
        "nu_mean_over_t_by_N": by(jacobians, "N", "nu"),
        "psi_mean_over_t_by_N": by(jacobians, "N", "psi"),
        "delta_mean_over_t_by_N": by(jacobians, "N", "delta"),
        "molrg_score_error": {
            f"seed {row['seed']} r={row['r']} N={row['N']}": float(row["score error"])
            for _, row in molrg.iterrows()
        },
        "molrg_copies": {
            f"seed {row['seed']} r={row['r']} N={row['N']}": float(row["copies"])
            for _, row in molrg.iterrows()
        },
    }


# the parts below use the helpers above: imported last, once those exist
from .claims import claims  # noqa: E402
