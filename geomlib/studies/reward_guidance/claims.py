"""The claims ledger of ``notebooks/reward_guidance``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import numpy as np

from ...tools.ledger import INCONCLUSIVE, inconclusive_because

# --- the claims ledger -------------------------------------------------------------------------------


def claims(results: dict, cfg) -> list:
    """The reward notebook's ledger. results: ``{model name: (best per bin, description, quality name,
    quality gate or None)}``.

    The claims are about what guidance does to a generator's samples, so on a model that fails its
    quality gate every row of that model is inconclusive whatever the numbers (they are printed, with
    the verdict they would give)."""
    from ...methods.analysis import rank_correlation
    from ...tools.ledger import (
        REBUTTAL,
        Claim,
        MostBins,
        RankCorrelation,
        Verdict,
        rank_correlation_interval,
        rank_correlation_text,
    )

    figure = REBUTTAL + "reward_guidance_effect.png"
    most = MostBins(1)
    trend = RankCorrelation(-1)
    quote = (
        '"a considerable increase in the local scaling, diversity and aesthetic score for most of the bins. '
        "Changes in local scaling, vendi and aesthetic scores are higher for the lower pre-guidance local "
        'scaling level set bins"'
    )
    verdicts = []
    for name, (best, description, quality, gate) in results.items():
        if best.empty:
            continue
        first = len(verdicts)
        for key, column, what, interval in (
            ("psi", "excess dpsi", "psi beyond the shuffled-label control reward", "95% t-interval"),
            ("vendi", "dvendi", "the Vendi score", "paired bootstrap 95% interval"),
            ("quality", "dquality", f"quality ({quality})", "95% t-interval"),
        ):
            label = {"psi": "local scaling", "vendi": "diversity", "quality": "quality (human preference)"}[
                key
            ]
            changes = best[f"{column} mean"].to_numpy()
            finite = np.isfinite(changes)
            up = int((best.loc[finite, f"{column} low"] > 0).sum())
            down = int((best.loc[finite, f"{column} high"] < 0).sum())
            per_bin = ", ".join(f"{v:+.2g}" for v in changes[finite])
            claim = Claim(
                f"guidance_raises_{key}_in_most_bins_{name}",
                f"reward guidance raises {label} for most of the baseline-psi bins ({quote})",
                "rebuttal Fig. 1 (paper Sec. 5)",
                f"{description}: change of {what} per baseline-psi bin at the bin's best scale (the one that "
                f"raises psi most, as the rebuttal), {interval} per bin",
                most,
                figure,
            )
            p_up, _ = most.p_values(changes)
            rises = int((changes[finite] > 0).sum())
            value = (
                f"up in {rises} of {int(finite.sum())} bins (sign test p = {p_up:.2g}); "
                f"interval above 0 in {up}, below 0 in {down}; per bin: {per_bin}"
            )
            verdicts.append(Verdict(claim, value, claim.verdict(changes)))

            claim = Claim(
                f"guidance_{key}_change_larger_in_lower_bins_{name}",
                f"the change of {label} under guidance is larger in the lower baseline-psi bins ({quote})",
                "rebuttal Fig. 1 (paper Sec. 5)",
                f"{description}: Spearman rho of the bin's rank against its change of {what}, over the bins",
                trend,
                figure,
            )
            rho, n = rank_correlation(best["bin"].to_numpy()[finite], changes[finite])
            enough = np.isfinite(rank_correlation_interval(rho, n)[0])
            value = (
                f"rho {rank_correlation_text(rho, n)} over {n} bins"
                if enough
                else f"{n} bins: too few for a trend"
            )
            verdicts.append(Verdict(claim, value, claim.verdict(rho, n)))
        if gate is not None and not gate.passed:
            verdicts[first:] = inconclusive_because(verdicts[first:])
    largest = max(max(cfg.reward_sizes), max(cfg.image_reward_sizes))
    claim = Claim(
        "guidance_best_with_50k_labels",
        "guidance works best with a reward trained on 50K labels: 20K is worse and 200K-800K no better",
        "rebuttal (reward sample complexity)",
        f"guidance against the number of labels; this run's largest label set: {largest:,}",
        "testable only with label sets from 20K to 800K (not a reward R^2 rising with N, which the rebuttal "
        "does not claim)",
        REBUTTAL + "localscaling_rewardmodel_samplecomplexity.pdf",
    )
    verdicts.append(Verdict(claim, f"not compared: at most {largest:,} labels", INCONCLUSIVE))
    return verdicts
