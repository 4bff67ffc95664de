"""The claims ledger of ``notebooks/reward_guidance``: each claim, its source, criterion and verdict."""

from __future__ import annotations

from ...tools.ledger import INCONCLUSIVE

# --- the claims ledger -------------------------------------------------------------------------------


def claims(results: dict, cfg) -> list:
    """The reward notebook's ledger. results: ``{model name: (best per bin, description, quality name)}``."""
    from ...tools.ledger import REBUTTAL, Claim, Verdict, interval_verdict

    figure = REBUTTAL + "reward_guidance_effect.png"
    verdicts = []
    for name, (best, description, quality) in results.items():
        if best.empty:
            continue
        lowest = best.iloc[0]
        crowded = best.loc[best["count"].idxmax()]
        claim = Claim(
            f"psi_rises_most_in_lowest_bin_{name}",
            "reward guidance raises local scaling, most for the samples whose local scaling was lowest",
            "paper Sec. 5; rebuttal Fig. 1",
            f"{description}: in the lowest baseline-psi bin, guided psi minus the psi that a shuffled-label "
            "control reward gives from the same noise at the same scale (per-sample, 95% t-interval)",
            "interval above 0 (beyond regression to the mean); below 0: not reproduced",
            figure,
        )
        value = (
            f"{lowest['excess dpsi mean']:+.3g} "
            f"[{lowest['excess dpsi low']:+.3g}, {lowest['excess dpsi high']:+.3g}] "
            f"(bin {int(lowest['bin'])}, {int(lowest['count'])} samples, s = {lowest['scale']:g}; raw "
            f"{lowest['dpsi mean']:+.3g}, control {lowest['control dpsi mean']:+.3g})"
        )
        verdicts.append(
            Verdict(claim, value, interval_verdict(lowest["excess dpsi low"], lowest["excess dpsi high"], 1))
        )
        for key, column, what, interval in (
            ("vendi", "dvendi", "the Vendi score", "paired bootstrap 95% interval"),
            ("quality", "dquality", f"quality ({quality})", "95% t-interval"),
        ):
            claim = Claim(
                f"guidance_raises_{key}_{name}",
                f"reward guidance raises {'diversity' if key == 'vendi' else 'quality (human preference)'}",
                "paper Sec. 5; rebuttal Fig. 1",
                f"{description}: change of {what} in the most populated baseline-psi bin at its best scale, "
                f"{interval}",
                "interval above 0; below 0: not reproduced",
                figure,
            )
            value = (
                f"{crowded[f'{column} mean']:+.3g} "
                f"[{crowded[f'{column} low']:+.3g}, {crowded[f'{column} high']:+.3g}] "
                f"(bin {int(crowded['bin'])}, {int(crowded['count'])} samples, s = {crowded['scale']:g})"
            )
            verdicts.append(
                Verdict(
                    claim, value, interval_verdict(crowded[f"{column} low"], crowded[f"{column} high"], 1)
                )
            )
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
