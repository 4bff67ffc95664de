"""Analyses shared by the notebooks: level sets, diversity per level set, sketch agreement, group tests.

Pitfalls handled here (each measured on this project's runs):

- Equal-width level sets of a descriptor hold very different counts, and the
  Vendi score grows with the number of samples. Diversity per level set is
  therefore computed on random subsets of one common size (averaged over
  repeats), and also on equal-count (quantile) level sets; counts are always
  returned beside the scores.
- Correlations are Spearman rank correlations, reported with their sample size.
- A rank correlation of values that agree to within numerical resolution
  (float32 descriptors of a barely trained model can differ only in the sixth
  digit) ranks rounding error, which differs between BLAS kernels and
  machines: ``spearman`` returns NaN there, as scipy does for constant input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import spearmanr

from ..core import seeds
from ..core.directions import expected_psi_shift
from .metrics import vendi_score

__all__ = [
    "level_set_composition",
    "RESOLUTION",
    "equal_count_bins",
    "equal_width_bins",
    "rank_correlations",
    "partial_spearman",
    "rise_and_drop_text",
    "rank_correlation",
    "vendi_rise_and_drop",
    "resolved",
    "sketch_agreement",
    "spearman",
    "prompt_level_tests",
    "vendi_per_level_set",
    "welch_by_step",
]


def equal_width_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index (0 .. bins-1) of each value among ``bins`` equal-width intervals of its range; the edges."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins!r}")
    if finite.size == 0:
        raise ValueError("values has no finite entry to bin")
    edges = np.linspace(finite.min(), finite.max(), bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return np.where(np.isfinite(values), index, -1), edges


def equal_count_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of each value over ``bins`` quantile intervals (equal counts, ties aside), and the edges."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    index = np.empty(len(values), np.int64)
    index[order] = np.arange(len(values)) * bins // len(values)
    edges = np.quantile(values, np.linspace(0, 1, bins + 1))
    return index, edges


def level_set_composition(values: np.ndarray, groups: np.ndarray, bins: int) -> pd.DataFrame:
    """How many members of each group (a class, a prompt) fall in each equal-count level set of
    ``values``: one row per level set (with its mean value), one column per group.

    Diversity per level set mixes two things, variety within a group and the number of groups a set
    holds; when the groups differ in ``values``, the level sets sort the groups, and this shows it.
    """
    index, _ = equal_count_bins(values, bins)
    table = pd.crosstab(pd.Series(index, name="level set"), pd.Series(np.asarray(groups), name="group"))
    table.insert(0, "mean", pd.Series(np.asarray(values, np.float64)).groupby(index).mean().round(2))
    return table


def vendi_per_level_set(
    features: np.ndarray, values: np.ndarray, bins: int, subsample: int, repeats: int, seed: int
) -> pd.DataFrame:
    """Vendi score of the samples in each level set of ``values``, equal-width and equal-count.

    Each level set with at least ``subsample`` members is scored on ``repeats``
    random subsets of exactly ``subsample`` members (mean and standard
    deviation reported), so that sets of different sizes are compared at equal
    counts; smaller sets get NaN. Also reported: the score of the whole set.
    """
    if subsample < 2:
        raise ValueError(f"vendi subsample size must be >= 2; got {subsample!r}")
    rng = seeds.rng(seed, "vendi-subsets")
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    rows = []
    for scheme, binning in (("equal width", equal_width_bins), ("equal count", equal_count_bins)):
        index, edges = binning(values, bins)
        for b in range(bins):
            members = np.flatnonzero(index == b)
            scores = [
                vendi_score(features[rng.choice(members, subsample, replace=False)])
                for _ in range(repeats if len(members) >= subsample else 0)
            ]
            rows.append(
                {
                    "bins": scheme,
                    "level set": b,
                    "low": edges[b],
                    "high": edges[b + 1],
                    "count": len(members),
                    f"vendi@{subsample}": np.mean(scores) if scores else np.nan,
                    "std": np.std(scores) if scores else np.nan,
                    "vendi (all)": vendi_score(features[members]) if len(members) >= 2 else np.nan,
                }
            )
    return pd.DataFrame(rows).set_index(["bins", "level set"])


# Relative spread below which values count as equal. float32 descriptors computed through different
# BLAS kernels agree to about 1e-6 relative (measured: nu of the LID smoke model, 8.8e-6 spread over
# points, moved by 2e-7 between kernels); 1e-4 leaves a margin of 100.
RESOLUTION = 1e-4


def resolved(values, resolution: float = RESOLUTION) -> bool:
    """Whether ``values`` vary by more than ``resolution`` times their largest magnitude."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return False
    return bool(np.ptp(values) > resolution * np.max(np.abs(values)))


def spearman(x, y, resolution: float = RESOLUTION) -> tuple[float, float]:
    """``(rho, p)``: scipy's Spearman rank correlation, or ``(nan, nan)`` when ``x`` or ``y`` does not
    vary beyond ``resolution`` (see the module docstring)."""
    if not (resolved(x, resolution) and resolved(y, resolution)):
        return np.nan, np.nan
    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def rank_correlations(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Spearman rho and its p-value for every pair of ``columns``, with the number of rows used."""
    rows = []
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            pair = frame[[a, b]].replace([np.inf, -np.inf], np.nan).dropna()
            result = spearmanr(pair[a], pair[b])
            rows.append(
                {"x": a, "y": b, "spearman rho": result.statistic, "p": result.pvalue, "n": len(pair)}
            )
    return pd.DataFrame(rows).set_index(["x", "y"])


def sketch_agreement(exact, sketched: dict, n: int, bins: int = 10) -> pd.DataFrame:
    """How the sketch's psi and nu relate to the exact ones across inputs, per sketch size k.

    exact: ``LocalGeometry`` from the exact Jacobian; sketched: ``{k: LocalGeometry}``.
    Columns: the mean shift of psi and, where it applies (rank <= k), the
    random-matrix prediction for it; the spread (std) of the shift; the rank
    correlation with exact psi and nu; the share of inputs put in the same
    equal-count level set (of ``bins``) by the sketched and the exact psi.
    """
    exact_psi, exact_nu = np.asarray(exact.psi), np.asarray(exact.nu)
    exact_bins, _ = equal_count_bins(exact_psi, bins)
    rank = int(np.median(exact.rank))
    rows = []
    for k, geom in sorted(sketched.items()):
        shift = np.asarray(geom.psi) - exact_psi
        sketched_bins, _ = equal_count_bins(geom.psi, bins)
        rows.append(
            {
                "k": k,
                "mean psi shift": shift.mean(),
                "predicted shift": expected_psi_shift(n, k, rank) if rank <= k else np.nan,
                "(r/2) log(k/n)": rank / 2 * np.log(k / n) if rank <= k else np.nan,
                "std of shift": shift.std(),
                "spearman psi": spearmanr(geom.psi, exact_psi).statistic,
                "spearman nu": spearmanr(geom.nu, exact_nu).statistic,
                "same level set": np.mean(sketched_bins == exact_bins),
            }
        )
    return pd.DataFrame(rows).set_index("k")


def welch_by_step(frame: pd.DataFrame, group: str, first, second) -> pd.DataFrame:
    """Per step and descriptor: both groups' means and Welch's t-test p-value (scipy)."""
    rows = []
    for step, at_step in frame.groupby("step"):
        for name in ("psi", "nu", "delta"):
            x = at_step.loc[at_step[group] == first, name].to_numpy()
            y = at_step.loc[at_step[group] == second, name].to_numpy()
            test = stats.ttest_ind(x, y, equal_var=False)
            rows.append(
                {
                    "step": step,
                    "timestep": int(at_step["timestep"].iloc[0]),
                    "descriptor": name,
                    f"mean {first}": x.mean(),
                    f"mean {second}": y.mean(),
                    "p": float(test.pvalue),
                }
            )
    return pd.DataFrame(rows)


def prompt_level_tests(
    frame: pd.DataFrame,
    *,
    unit: str,
    group: str,
    first: str,
    second: str,
    by: list[str],
    descriptors: tuple[str, ...] = ("psi", "nu", "delta"),
    permutations: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Group differences tested with the independent units (e.g. prompts), not the samples, as units.

    Samples of one memorized prompt are near-copies of one image, so a test
    over samples counts the same image many times. For each combination of
    the ``by`` columns and each descriptor: the mean of every ``unit``
    (prompt), then

    - ``welch p``: Welch's t-test on the unit means of the two groups;
    - ``permutation p``: the units' group labels permuted (``permutations``
      draws; ``(1 + #|diff| >= |observed|) / (1 + permutations)``, so it is
      never below ``1 / (1 + permutations)``);
    - ``sample welch p``: Welch's test over samples, pseudo-replicated, shown
      only to compare.

    ``units first`` / ``units second`` give how many independent units each
    p-value rests on.
    """
    rng = seeds.rng(seed, "prompt-permutations")
    rows = []
    orders: dict[int, np.ndarray] = {}
    for keys, part in frame.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for name in descriptors:
            means = part.groupby([group, unit])[name].mean()
            x, y = means.loc[first].to_numpy(), means.loc[second].to_numpy()
            values = np.concatenate([x, y])
            if len(values) not in orders:  # one set of permutations per number of units
                orders[len(values)] = np.argsort(rng.random((permutations, len(values))), axis=1)
            shuffled = values[orders[len(values)]]
            null = shuffled[:, : len(x)].mean(1) - shuffled[:, len(x) :].mean(1)
            observed = x.mean() - y.mean()
            pooled = np.sqrt(
                ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(values) - 2)
            )
            samples_x = part.loc[part[group] == first, name].to_numpy()
            samples_y = part.loc[part[group] == second, name].to_numpy()
            rows.append(
                {
                    **dict(zip(by, keys, strict=True)),
                    "descriptor": name,
                    "units first": len(x),
                    "units second": len(y),
                    f"mean {first}": x.mean(),
                    f"mean {second}": y.mean(),
                    "difference": observed,
                    "cohen d": float(observed / pooled) if pooled > 0 else float("nan"),
                    "welch p": float(stats.ttest_ind(x, y, equal_var=False).pvalue),
                    "permutation p": float(
                        (1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + permutations)
                    ),
                    "sample welch p": float(stats.ttest_ind(samples_x, samples_y, equal_var=False).pvalue),
                }
            )
    return pd.DataFrame(rows)


def vendi_rise_and_drop(
    features: np.ndarray,
    values: np.ndarray,
    bins: int,
    subsample: int,
    seed: int,
    scheme: str = "equal count",
    boots: int = 200,
    score=None,
) -> dict:
    """ "Vendi rises over the level sets of ``values``, then drops": where the peak is, and the rise and
    the drop around it with intervals. ``score``: a set's diversity from its rows of ``features``
    (default: the cosine Vendi score; e.g. ``rbf_vendi`` for points of a plane).

    Level sets holding fewer than ``subsample`` images are left out, so a near-empty end set cannot
    decide. The others are scored on random subsets of one size, ``size = min(subsample, 0.6 x the
    smallest scored set)`` (the point estimate averages 20 subsets): a bootstrap replicate holds about
    63% distinct images, and its sets must be scorable at the same size.

    The peak is the scored set with the highest point estimate, fixed before any interval is drawn (a
    maximum re-taken in every replicate is biased upwards by the noise of the sets it chooses among).
    rise = score at the peak minus the first scored set's, drop = score at the peak minus the last
    one's. When the peak is an end set, ``lead`` = its score minus that of the best interior set (also
    fixed from the point estimate) says whether it is an end by more than noise. The 95% intervals are
    percentile bootstraps over the images: each replicate resamples the images with replacement,
    re-forms the level sets from the resampled values, and scores one subset of distinct images per
    set, so an interval includes which images land in which set as well as the subset drawn. Returns
    the scores and counts per set, the subset ``size``, the ``peak`` set, whether it is ``interior``,
    ``rise``, ``drop``, ``lead`` (NaN for an interior peak), each with its interval (the keys ending in
    ``_interval``), and the number of
    replicates used.
    """
    binning = {"equal count": equal_count_bins, "equal width": equal_width_bins}
    if scheme not in binning:
        raise ValueError(f"scheme must be one of {tuple(binning)}; got {scheme!r}")
    if subsample < 2:
        raise ValueError(f"subsample must be >= 2; got {subsample!r}")
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    values = np.asarray(values, np.float64)
    score = score or vendi_score
    rng = seeds.rng(seed, "vendi-rise-and-drop", scheme)

    def members_per_set(images: np.ndarray) -> list[np.ndarray]:
        index, _ = binning[scheme](values[images], bins)
        return [np.unique(images[index == b]) for b in range(bins)]

    def scores(sets: list[np.ndarray], size: int, repeats: int, wanted) -> np.ndarray:
        out = np.full(bins, np.nan)
        for b in wanted:
            if len(sets[b]) >= size:
                out[b] = np.mean(
                    [score(features[rng.choice(sets[b], size, replace=False)]) for _ in range(repeats)]
                )
        return out

    everything = np.arange(len(values))
    sets = members_per_set(everything)
    counts = np.array([len(m) for m in sets])
    scored = np.flatnonzero(counts >= subsample)
    size = int(min(subsample, max(2, int(0.6 * counts[scored].min())))) if len(scored) else subsample
    point = scores(sets, size, 20, scored)
    result = {"scores": point, "counts": counts, "scored": scored, "size": size}
    nan2 = (np.nan, np.nan)
    if len(scored) < 3:
        return result | {
            "peak": -1,
            "interior": False,
            **{name: np.nan for name in ("rise", "drop", "lead")},
            **{f"{name}_interval": nan2 for name in ("rise", "drop", "lead")},
            "replicates": 0,
        }
    first, last, interior = scored[0], scored[-1], scored[1:-1]
    peak = int(scored[np.nanargmax(point[scored])])
    best_inside = int(interior[np.nanargmax(point[interior])])
    is_interior = peak not in (first, last)

    def contrasts(s: np.ndarray) -> tuple[float, float, float]:
        lead = s[peak] - s[best_inside] if not is_interior else np.nan
        return s[peak] - s[first], s[peak] - s[last], lead

    rise, drop, lead = contrasts(point)
    replicates = []
    needed = sorted({first, last, peak, best_inside})
    for _ in range(boots):
        s = scores(members_per_set(rng.choice(everything, len(everything), replace=True)), size, 1, needed)
        if np.isfinite(s[needed]).all():
            replicates.append(contrasts(s))
    replicates = np.asarray(replicates).reshape(-1, 3)

    def interval(i: int) -> tuple[float, float]:
        if not len(replicates) or not np.isfinite(replicates[:, i]).all():
            return nan2
        return tuple(float(v) for v in np.percentile(replicates[:, i], [2.5, 97.5]))

    return result | {
        "peak": peak,
        "interior": is_interior,
        "rise": float(rise),
        "drop": float(drop),
        "lead": float(lead),
        "rise_interval": interval(0),
        "drop_interval": interval(1),
        "lead_interval": interval(2),
        "replicates": len(replicates),
    }


def rise_and_drop_text(result: dict) -> str:
    """The ledger's value for ``vendi_rise_and_drop``: scores, the rise and the drop with intervals,
    and the images per level set."""
    if len(result["scored"]) < 3:
        return (
            f"fewer than three scorable level sets (images per set: {', '.join(map(str, result['counts']))})"
        )
    scores, scored = result["scores"], result["scored"]
    (rl, rh), (dl, dh) = result["rise_interval"], result["drop_interval"]
    where = "interior" if result["interior"] else "an end set"
    text = (
        f"{scores[scored[0]]:.3g} -> peak {scores[result['peak']]:.3g} (level set {result['peak']}, "
        f"{where}) -> {scores[scored[-1]]:.3g}; rise {result['rise']:+.2f} [{rl:+.2f}, {rh:+.2f}], "
        f"drop {result['drop']:+.2f} [{dl:+.2f}, {dh:+.2f}]"
    )
    if not result["interior"]:
        low, high = result["lead_interval"]
        text += f", the end's lead over the best interior set {result['lead']:+.2f} [{low:+.2f}, {high:+.2f}]"
    return text + (
        f" ({result['replicates']} replicates); scored on {result['size']}-image subsets; images per set "
        + ", ".join(map(str, result["counts"]))
    )


def rank_correlation(x, y) -> tuple[float, int]:
    """Spearman rho of ``x`` and ``y`` over their finite pairs, and that number of pairs."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    rho, _ = spearman(x[keep], y[keep])
    return float(rho), int(keep.sum())


def partial_spearman(x, y, controls) -> tuple[float, int]:
    """Partial Spearman correlation of ``x`` and ``y`` given ``controls`` (a list of arrays): the Pearson
    correlation of the ranks of ``x`` and ``y`` after regressing each on the controls' ranks (and a
    constant) by least squares; and the number of complete rows."""
    columns = [np.asarray(c, np.float64) for c in (x, y, *controls)]
    keep = np.all([np.isfinite(c) for c in columns], axis=0)
    ranks = [stats.rankdata(c[keep]) for c in columns]
    design = np.column_stack([np.ones(int(keep.sum())), *ranks[2:]])

    def residual(v):
        coef, *_ = np.linalg.lstsq(design, v, rcond=None)
        return v - design @ coef

    rx, ry = residual(ranks[0]), residual(ranks[1])
    denominator = np.sqrt((rx @ rx) * (ry @ ry))
    return (float(rx @ ry / denominator) if denominator > 0 else float("nan")), int(keep.sum())
