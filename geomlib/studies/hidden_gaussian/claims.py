"""The claims ledger of ``notebooks/hidden_gaussian``: each claim, its source, criterion and verdict."""

from __future__ import annotations

from ...tools.ledger import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, decide
from . import SUMMARY_MAX_T

# --- the claims ledger ---------------------------------------------------------------------------------


def claims(cfg, scores, per_seed, comparisons, capacity, jacobians, molrg) -> list:
    """The hidden-Gaussian notebook's ledger.

    per_seed: generalization per N and seed (``seed_generalization``);
    comparisons: ``denoiser_comparison`` of every same-data model (column ``model``).
    """
    from ...tools.ledger import Claim, Verdict, across_seeds, threshold_verdict

    small, large = min(cfg.train_sizes), max(cfg.train_sizes)
    seeds_text = f"{len(per_seed.columns)} seeds"
    verdicts = []

    claim = Claim(
        "memorization_to_generalization",
        "a diffusion model memorizes its training set when it is small and generalizes as it grows",
        "Li, Dai & Qu (NeurIPS 2024), Fig. 1; Zhang et al. (ICML 2024)",
        "generalization score (1 - share of samples within cosine "
        f"{cfg.similarity_threshold} of a training image) "
        f"at N = {small} and N = {large}",
        f"below 0.5 at N = {small} and above 0.9 at N = {large}, at every seed",
    )
    per = []
    for name in per_seed.columns:
        low, high = per_seed.loc[small, name], per_seed.loc[large, name]
        per.append(decide(low < 0.5 and high > 0.9, low >= 0.5 or high <= 0.5))
    value = ", ".join(
        f"{per_seed.loc[small, n]:.2f} -> {per_seed.loc[large, n]:.2f}" for n in per_seed.columns
    )
    verdicts.append(Verdict(claim, f"{value} ({seeds_text})", across_seeds(per)))

    if len(per_seed.columns) > 1:
        same = scores["reproducibility (same data)"]
        claim = Claim(
            "reproducible_in_both_regimes",
            "two models trained on the same data with different seeds draw the same sample from the same "
            "noise, "
            "in the memorization and in the generalization regime",
            "Zhang et al. (ICML 2024); Qu's tutorial slides (Dec. 2024)",
            f"share of equal-noise sample pairs within cosine {cfg.similarity_threshold}, mean over "
            f"{int(scores['seed pairs'].iloc[0])} seed pairs, at N = {small} and N = {large}",
            "above 0.5 at both N; below 0.5 at both: not reproduced",
        )
        both = [same.loc[small], same.loc[large]]
        verdict = decide(min(both) > 0.5, max(both) < 0.5)
        verdicts.append(Verdict(claim, f"{both[0]:.2f} (N = {small}), {both[1]:.2f} (N = {large})", verdict))

    disjoint = scores["reproducibility (disjoint sets)"]
    claim = Claim(
        "disjoint_sets_agree_when_generalizing",
        "models trained on disjoint training sets draw the same samples once they generalize",
        "Kadkhodaie et al. (ICLR 2024); Li, Dai & Qu (NeurIPS 2024)",
        f"the same share for one model on set A against one on a disjoint set B, N = {small} and N = {large} "
        "(one pair per N)",
        f"below 0.5 at N = {small} and above 0.5 at N = {large}",
    )
    low, high = disjoint.loc[small], disjoint.loc[large]
    verdict = decide(low < 0.5 < high, high <= low)
    verdicts.append(Verdict(claim, f"{low:.2f} -> {high:.2f}", verdict))

    early = (
        comparisons[comparisons["t"] <= SUMMARY_MAX_T]
        .groupby(["model", "N"])[["gaussian gap", "linearity"]]
        .mean()
    )
    for key, column, text, sign in (
        (
            "closer_to_gaussian_when_generalizing",
            "gaussian gap",
            "generalizing denoisers are close to the optimal denoiser of a Gaussian fitted to the "
            "training data",
            -1,
        ),
        ("more_linear_when_generalizing", "linearity", "generalizing denoisers are nearly linear", 1),
    ):
        claim = Claim(
            key,
            text,
            "Li, Dai & Qu (NeurIPS 2024), Figs. 2-3",
            f"{column} averaged over t <= {SUMMARY_MAX_T}, at N = {large} against N = {small}",
            f"{'lower' if sign < 0 else 'higher'} at N = {large} at every seed",
        )
        models = sorted(early.index.get_level_values(0).unique())
        changes = [early.loc[(m, large), column] - early.loc[(m, small), column] for m in models]
        per = [threshold_verdict(sign * c, 0.0) for c in changes]
        value = ", ".join(
            f"{early.loc[(m, small), column]:.3g} -> {early.loc[(m, large), column]:.3g}" for m in models
        )
        verdicts.append(Verdict(claim, f"{value} ({seeds_text})", across_seeds(per)))

    widths = capacity[capacity["step"] == cfg.train_steps].set_index("width")["generalization"]
    claim = Claim(
        "smaller_or_earlier_generalizes",
        "at a small N, a smaller network, or the same network stopped earlier, generalizes where the "
        "full one memorizes",
        "Li, Dai & Qu (NeurIPS 2024), Fig. 4",
        f"generalization score at N = {cfg.capacity_size}: the smallest width and the earliest checkpoint "
        "against "
        "the full width at the last step (first seed)",
        "both higher than the full model's",
    )
    earliest = capacity[(capacity["width"] == cfg.width)].sort_values("step")["generalization"].iloc[0]
    full = widths.loc[cfg.width]
    smallest = widths.loc[min(widths.index)]
    verdict = decide(smallest > full and earliest > full, smallest <= full and earliest <= full)
    verdicts.append(
        Verdict(
            claim, f"smallest width {smallest:.2f}, earliest step {earliest:.2f}, full {full:.2f}", verdict
        )
    )

    for tol in cfg.rank_tols:
        column = f"rank ratio @{tol:g}"
        t_late = (
            max(t for t in cfg.noise_levels if t <= 700)
            if any(t <= 700 for t in cfg.noise_levels)
            else max(cfg.noise_levels)
        )
        at = jacobians[(jacobians["N"] == large) & (jacobians["t"] == t_late)]
        claim = Claim(
            f"low_rank_jacobian_tol_{tol:g}",
            "the posterior-mean predictor's Jacobian is low-rank at mid-to-high noise (e.g. t = 0.7 T)",
            "Qu's tutorial slides (Dec. 2024); Chen et al. (2024)",
            f"rank ratio (singular values above {tol:g} x the largest, over the dimension) "
            f"at t = {t_late}, N = {large}",
            "below 0.5; above 0.9: not reproduced",
        )
        value = float(at[column].iloc[0])
        verdict = decide(value < 0.5, value > 0.9)
        gaussian = float(at[f"gaussian rank ratio @{tol:g}"].iloc[0])
        verdicts.append(Verdict(claim, f"{value:.2f} (Gaussian denoiser: {gaussian:.2f})", verdict))

    claim = Claim(
        "molrg_samples_needed_scale_with_rank",
        "the number of samples needed to generalize grows with the intrinsic dimension "
        "(the subspace rank r), "
        "not with the ambient dimension",
        "Wang et al. (2024), MoLRG",
        "for each r, the smallest N whose samples copy no training point (copies < 0.1)",
        "that N grows with r and N / r varies by at most a factor 4 across r",
    )
    needed = {}
    for r, part in molrg.groupby("r"):
        ok = part[part["copies"] < 0.1]["N"]
        needed[int(r)] = int(ok.min()) if len(ok) else None
    known = {r: n for r, n in needed.items() if n is not None}
    if len(known) < 2 or len(known) < len(needed):
        verdict = INCONCLUSIVE
    else:
        ranks = sorted(known)
        grows = all(known[a] <= known[b] for a, b in zip(ranks, ranks[1:], strict=False))
        ratios = [known[r] / r for r in ranks]
        verdict = REPRODUCED if grows and max(ratios) / min(ratios) <= 4 else NOT_REPRODUCED
    value = ", ".join(
        f"r = {r}: N = {n if n is not None else 'none in the sweep'}" for r, n in needed.items()
    )
    verdicts.append(Verdict(claim, value, verdict))
    return verdicts
