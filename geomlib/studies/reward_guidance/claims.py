"""The claims ledger of ``notebooks/reward_guidance``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import numpy as np

from ...tools.ledger import INCONCLUSIVE, decide

# --- the claims ledger -------------------------------------------------------------------------------


def claims(results: dict, cfg) -> list:
    """The reward notebook's ledger. results: ``{model name: (best per bin, description, quality name,
    pooled change or None)}``.

    Every row of a model reads two things that must pass their gates (``reward_gates``): the generator
    ("<name> model") and the reward that guided it ("<name> reward": a held-out R^2 above 0, or the
    reward predicts psi no better than its mean and guidance by it says nothing about psi)."""
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
    for name, (best, description, quality, pooled) in results.items():
        if best.empty:
            continue
        models = (f"{name} model", f"{name} reward")
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
                models=models,
            )
            lows, highs = best[f"{column} low"].to_numpy(), best[f"{column} high"].to_numpy()
            value = (
                f"interval above 0 in {up} of {int(finite.sum())} bins, below 0 in {down}; per bin: {per_bin}"
            )
            verdicts.append(Verdict(claim, value, claim.verdict(lows, highs)))

            claim = Claim(
                f"guidance_{key}_change_larger_in_lower_bins_{name}",
                f"the change of {label} under guidance is larger in the lower baseline-psi bins ({quote})",
                "rebuttal Fig. 1 (paper Sec. 5)",
                f"{description}: Spearman rho of the bin's rank against its change of {what}, over the bins",
                trend,
                figure,
                models=models,
            )
            rho, n = rank_correlation(best["bin"].to_numpy()[finite], changes[finite])
            enough = np.isfinite(rank_correlation_interval(rho, n)[0])
            value = (
                f"rho {rank_correlation_text(rho, n)} over {n} bins"
                if enough
                else f"{n} bins: too few for a trend"
            )
            verdicts.append(Verdict(claim, value, claim.verdict(rho, n)))
        if pooled is not None:
            verdicts.append(_pooled_verdict(name, description, quality, pooled, models))
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


ABSTRACT = (
    "\"by training a reward model on the 'local scaling' for Stable Diffusion, we can self-improve both "
    'generation aesthetics and diversity using geometry sensitive guidance during denoising"'
)


def _pooled_verdict(name: str, description: str, quality: str, pooled: dict, models) -> object:
    """The abstract's pooled claim: guidance raises both quality and diversity over all samples."""
    from ...tools.ledger import Claim, Verdict

    claim = Claim(
        f"guidance_raises_quality_and_diversity_pooled_{name}",
        f"geometry-sensitive guidance improves both aesthetics and diversity ({ABSTRACT})",
        "paper abstract",
        f"{description}: over all samples, at the scale that raises mean psi most (chosen before the "
        f"outcomes), the change of mean quality ({quality}; paired 95% t-interval) and of the Vendi score "
        "(paired bootstrap 95% interval)",
        "both intervals above 0: reproduced; either below 0: not reproduced",
        models=models,
    )
    (dq, ql, qh), (dv, vl, vh) = pooled["quality change"], pooled["vendi change"]
    value = (
        f"s = {pooled['scale']:g}: quality {dq:+.3g} [{ql:+.3g}, {qh:+.3g}], "
        f"Vendi {dv:+.3g} [{vl:+.3g}, {vh:+.3g}]"
    )
    finite = all(np.isfinite(v) for v in (ql, qh, vl, vh))
    verdict = decide(ql > 0 and vl > 0, qh < 0 or vh < 0) if finite else INCONCLUSIVE
    return Verdict(claim, value, verdict)


def reward_gates(name: str, reward_table, model_gate) -> dict:
    """The two gates every row of ``name`` reads: the generator's (a gate object, or None for a model
    with no gate here) and its guiding reward's, held-out R^2 of the largest reward above 0."""
    r2 = float(reward_table["R2"].iloc[-1])
    return {f"{name} model": model_gate, f"{name} reward": RewardFit(r2)}


class RewardFit:
    """A reward's fit gate: it predicts held-out psi better than their mean (R^2 > 0)."""

    def __init__(self, r2: float):
        self.r2 = r2

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.r2) and self.r2 > 0)

    def as_dict(self) -> dict:
        return {"R2": self.r2, "passed": self.passed}

    def __str__(self) -> str:
        return (
            f"reward fit: held-out R^2 {self.r2:.3f}, passes above 0: {'PASSED' if self.passed else 'FAILED'}"
        )
