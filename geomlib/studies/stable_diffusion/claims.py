"""The claims ledger of ``notebooks/stable_diffusion``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from ...core.local_geometry import DESCRIPTORS
from ...tools.ledger import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, inconclusive_because
from . import SDConfig

# --- the claims ledger -------------------------------------------------------------------------------


PAPER_MAP = " (the paper's)"


def corruption_tests(frame: pd.DataFrame) -> pd.DataFrame:
    """Per map, corruption kind and descriptor: the per-image change from clean to the strongest
    severity, with the image as the unit (Wilcoxon signed-rank test over images)."""
    rows = []
    for (name, kind), part in frame.groupby(["map", "kind"], sort=False):
        strongest = part["severity"].max()
        for descriptor in DESCRIPTORS:
            clean = part[part["severity"] == 0].set_index("image")[descriptor]
            worst = part[part["severity"] == strongest].set_index("image")[descriptor]
            change = (worst - clean).to_numpy()
            test = stats.wilcoxon(change) if np.any(change != 0) else None
            rows.append(
                {
                    "map": name,
                    "kind": kind,
                    "descriptor": descriptor,
                    "median change": float(np.median(change)),
                    "share of images up": float(np.mean(change > 0)),
                    "wilcoxon p": float(test.pvalue) if test is not None else 1.0,
                    "images": len(change),
                }
            )
    return pd.DataFrame(rows).set_index(["map", "kind", "descriptor"])


def claims(
    cfg: SDConfig,
    slice_numbers,
    level_inputs,
    corruption_table,
    tested,
    cross,
    description,
    copy_rates=None,
) -> list:
    """The Stable Diffusion notebook's ledger (one model; the units are anchors, images and prompts).

    slice_numbers: ``slice_tests`` of the main map's slice. level_inputs: ``level_ledger_inputs`` of the
    level-set samples. cross: ``memorization.cross_guidance_tests`` (memorized prompts at 7.5 against
    ordinary ones at 9). Every row reads the one model, "SD" for its quality gate (``ledger.gated``).
    copy_rates: ``memorization.copy_rates`` (None: a model
    whose training images are unknown); when fewer than half of the memorized prompts are memorized by
    the copy criterion at the tested guidance scale, the memorization rows are inconclusive: there is
    too little memorization to test a claim about it.
    """
    from ...methods.analysis import rank_correlation, rise_and_drop_text
    from ...methods.headline import complexity_verdicts, redundancy_verdicts
    from ...tools.ledger import (
        CLAIM,
        QUESTION,
        REBUTTAL,
        SENSITIVITY,
        Claim,
        DropAtTop,
        RankCorrelation,
        Significant,
        Threshold,
        Verdict,
        rank_correlation_text,
    )

    maps = list(dict.fromkeys(corruption_table.index.get_level_values("map")))
    main = maps[0]
    verdicts = []
    # The rebuttal's readings of Fig. 4. Grid points of one plane are not independent samples: effect
    # sizes, not p-values. d >= 0.2 is Cohen's "small" effect; a roughness ratio of 1.2 is 20% sharper.
    inside, outside = slice_numbers["points inside"], slice_numbers["points outside"]
    where = f"{main} map's {inside + outside}-point slice ({inside} inside the anchors' triangle)"
    model = ("SD",)  # the one model every row reads, by its quality gate's name
    claim = Claim(
        "slice_nu_higher_outside_anchor_hull",
        "there are parts of the slice outside the anchors' convex hull with higher local rank (\"there "
        "exist parts of the latent space (outside the convex hull of the three anchor vectors) that have "
        'higher jacobian rank")',
        "rebuttal, answer on low-dimensional subspaces (Fig. 4)",
        f"share of the outside points whose nu exceeds the inside points' 95th percentile (5% when nu does "
        f"not depend on the side), {where}; Cohen's d beside. One slice (one anchor triple): a miss "
        "cannot decide against the claim",
        "share >= 10% (twice chance): reproduced; otherwise inconclusive (one slice is not a sample of "
        "slices)",
        models=model,
    )
    share = slice_numbers["nu share outside above inside q95"]
    d = slice_numbers["nu d (outside - inside)"]
    verdict = REPRODUCED if np.isfinite(share) and share >= 0.10 else INCONCLUSIVE
    verdicts.append(Verdict(claim, f"share {share:.1%}; d = {d:+.2f}", verdict))
    roughness = slice_numbers["roughness"]
    claim = Claim(
        "slice_nu_sharper_than_psi",
        'local rank changes more sharply over the slice than local scaling ("local scaling and rank are '
        'correlated but local rank has sharper changes spatially compared to local scaling")',
        "rebuttal, answer on correlations between the descriptors (Fig. 4)",
        f"ratio of spatial roughness, nu over psi (mean |difference| between neighbouring points of the "
        f"standardized maps), {where}",
        Threshold("ratio", 1.2, against=1 / 1.2),
        models=model,
    )
    ratio = roughness["nu"] / roughness["psi"] if roughness["psi"] > 0 else float("nan")
    verdicts.append(
        Verdict(
            claim, f"{ratio:.2f} (nu {roughness['nu']:.3f}, psi {roughness['psi']:.3f})", claim.verdict(ratio)
        )
    )
    claim = Claim(
        "slice_delta_smoother_than_nu",
        'local complexity changes less sharply over the slice than local rank ("we do not observe sharp '
        'changes in local complexity as we observe in local rank in Fig 4")',
        "rebuttal, answer on correlations between the descriptors (Fig. 4)",
        f"ratio of spatial roughness, delta over nu, {where}",
        Threshold("ratio", 1 / 1.2, against=1.2, above=False),
        models=model,
    )
    ratio = roughness["delta"] / roughness["nu"] if roughness["nu"] > 0 else float("nan")
    value = f"{ratio:.2f} (delta {roughness['delta']:.3f})"
    verdicts.append(Verdict(claim, value, claim.verdict(ratio)))
    claim = Claim(
        "slice_artifacts_away_from_anchor_hull",
        "decoded latents away from the anchors' convex hull contain artifacts "
        '("away from the convex hull of the anchors, the decoded images contain many artifacts")',
        "rebuttal, answer (e) on Fig. 4; paper appendix Figs. 22-27",
        "Cohen's d of an artifact proxy, the digit classifier's largest class probability for the decoded "
        f"latent (lower: less like any digit), inside minus outside the triangle, {where}",
        Threshold("d", 0.2, against=-0.2),
        models=model,
    )
    d = slice_numbers["confidence d (inside - outside)"]
    if d is None:
        verdicts.append(
            Verdict(claim, "not measured: no artifact proxy for a pretrained model", INCONCLUSIVE)
        )
    else:
        means = slice_numbers["confidence inside / outside"]
        verdicts.append(
            Verdict(
                claim, f"d = {d:+.2f} (mean {means[0]:.2f} inside, {means[1]:.2f} outside)", claim.verdict(d)
            )
        )

    about_samples = []
    images = len(level_inputs["per image"])
    base = (
        f"Vendi of generated images per psi level set of the {main} map, {images} images; sets with fewer "
        f"than {cfg.vendi_subsample} left out, the others scored on subsets of one size; bootstrap over the "
        "images"
    )
    primary = Claim(
        "level_set_vendi_drops_in_highest_psi_level_sets",
        "for the highest local scaling level sets the Vendi score drops compared to prior level sets "
        '("for the highest local scaling level sets, the vendi score (indicating diversity) drops compared '
        'to prior local scaling level sets. We have observed this phenomenon for Stable Diffusion")',
        "rebuttal, answer on the Vendi drop",
        f"{base}; equal-count level sets (counts cannot shape them)",
        DropAtTop(),
        REBUTTAL + "local_scaling_levelsets_vendi_humanpref.png",
        models=model,
    )
    for scheme, claim in (
        ("equal count", primary),
        (
            "equal width",
            primary.sensitivity(
                f"{primary.key}_equal_width", f"{base}; equal-width level sets (the paper's)"
            ),
        ),
    ):
        result = level_inputs["vendi"][scheme]
        about_samples.append(Verdict(claim, rise_and_drop_text(result), claim.verdict(result)))
    seeds_text = f"one model, sampling seed {cfg.seed}"
    claim = Claim(
        "psi_tracks_quality",
        'local scaling is correlated with generation aesthetics ("local scaling is correlated with '
        "generation aesthetics\"; the rebuttal's level-set figure shows the predicted human preference "
        "per psi level set)",
        "OpenReview rebuttal, summary (iv); rebuttal SD level-set figure",
        f"Spearman rho of psi ({main} map) against the per-image quality, the digit classifier's "
        f"probability of the prompted digit (RAHF is not public), over {images} generated images; mean "
        "quality per equal-count psi level set beside",
        RankCorrelation(1),
        REBUTTAL + "local_scaling_levelsets_vendi_humanpref.png",
        models=model,
    )
    outcomes = level_inputs["outcomes"]
    if "confidence" not in outcomes:
        about_samples.append(
            Verdict(claim, "not measured: no quality scorer for a pretrained model", INCONCLUSIVE)
        )
    else:
        quality = outcomes["confidence"]
        rho, n = rank_correlation(quality["psi"], quality["outcome"])
        bins = pd.qcut(quality["psi"].rank(method="first"), cfg.level_bins, labels=False)
        per_set = quality.groupby(bins)["outcome"].mean()
        value = f"{rank_correlation_text(rho, n)} (n = {n}); per level set: " + ", ".join(
            f"{v:.2f}" for v in per_set
        )
        about_samples.append(Verdict(claim, value, claim.verdict(rho, n)))
    about_samples += complexity_verdicts(
        f"{description}, {main} map", [level_inputs["per image"]], seeds_text, "sd", models=model
    )
    about_samples += redundancy_verdicts(
        f"{description}, {main} map", [level_inputs["outcomes"]], seeds_text, "sd", models=model
    )
    verdicts += about_samples

    for kind, sign, text in (
        ("blur", -1, "blur lowers local scaling"),
        ("noise", 1, "noise raises local scaling"),
    ):
        for name in maps:
            row = corruption_table.loc[(name, kind, "psi")]
            claim = Claim(
                f"{kind}_{'lowers' if sign < 0 else 'raises'}_psi_{name}",
                text if name == "decoder" else f"{text} in the UNet's map too (the paper reads the decoder)",
                "paper Sec. 4, Fig. 6",
                f"per-image change of psi, {name} map{PAPER_MAP if name == 'decoder' else ''}, "
                f"from clean to the strongest {kind}, {int(row['images'])} images",
                Significant(sign, "Wilcoxon p over images", "the median change"),
                kind=CLAIM if name == "decoder" else QUESTION,
                models=model,
            )
            value = (
                f"median {row['median change']:+.3g}, {row['share of images up']:.0%} of images up, "
                f"p = {row['wilcoxon p']:.2g}"
            )
            verdicts.append(Verdict(claim, value, claim.verdict(row["wilcoxon p"], row["median change"])))

    guidance = min(tested.index.get_level_values("guidance"))  # the paper's Fig. 8 scale, 7.5
    column = [c for c in tested.columns if c.startswith("steps with permutation")][0]
    first_memorization_row = len(verdicts)
    quote = '("local geometry trajectories are discriminative of memorization", the paper\'s claim as quoted)'
    for name in maps:
        at = tested.loc[(name, guidance)]
        steps = int(at["steps"].iloc[0])
        memorized, ordinary = int(at["prompts memorized"].iloc[0]), int(at["prompts ordinary"].iloc[0])
        units = f"{memorized} memorized and {ordinary} ordinary prompts"
        for descriptor in ("psi", "nu"):
            separated = int(at.loc[descriptor, column])
            claim = Claim(
                f"memorization_separated_by_{descriptor}_{name}",
                f"{descriptor}'s trajectory separates memorized from ordinary prompts {quote}",
                "paper Sec. 4, Fig. 8; a reviewer's quote of it",
                f"steps (of {steps}) where a prompt-level permutation test gives p < 0.05, {name} map, "
                f"guidance {guidance:g}; {units}",
                "at least half of the steps: reproduced; none: not reproduced (inconclusive if too few "
                "prompts for the test to reach 0.05)",
                models=model,
            )
            if name != "decoder":  # the paper's map is the decoder; the UNet's is tested beside it
                claim = replace(
                    claim, kind=SENSITIVITY, primary=f"memorization_separated_by_{descriptor}_decoder"
                )
            if not _can_reach(memorized, ordinary):
                verdict = INCONCLUSIVE
            elif separated >= steps / 2:
                verdict = REPRODUCED
            else:
                verdict = NOT_REPRODUCED if separated == 0 else INCONCLUSIVE
            verdicts.append(
                Verdict(
                    claim,
                    f"{separated} of {steps} (smallest p {at.loc[descriptor, 'smallest permutation p']:.2g})",
                    verdict,
                )
            )
    verdicts[first_memorization_row:] = _memorization_gate(
        verdicts[first_memorization_row:], copy_rates, guidance
    )
    verdicts += final_latent_verdicts(tested, cross, maps, copy_rates)
    return verdicts


def _can_reach(memorized: int, ordinary: int, alpha: float = 0.05) -> bool:
    """Whether a permutation test over ``memorized`` + ``ordinary`` prompts can give p < ``alpha`` at all:
    its smallest p is one over the number of ways to split the prompts."""
    return math.comb(memorized + ordinary, memorized) * alpha > 1


def _memorization_gate(verdicts: list, copy_rates, guidance: float) -> list:
    """The memorization rows at ``guidance``, made *inconclusive* when too few memorized prompts copy
    their image there (``memorization.memorized_prompts``)."""
    from .memorization import memorized_prompts

    memorized = memorized_prompts(copy_rates, guidance)
    if memorized is None or memorized["enough"]:
        return verdicts
    reason = (
        f"only {memorized['memorized']} of {memorized['prompts']} memorized prompts have most "
        f"generations copy their image at guidance {guidance:g}"
    )
    return inconclusive_because(verdicts, reason)


REBUTTAL_AT_75 = (
    '"At denoising step 50 in Figure 8, the local complexity distribution between memorized and coco '
    "prompts have a t-test statistical significance (p-value) of 0.0004 for a classifier free guidance "
    'scale of 7.5"; delta is the weakest of the three ("not as significant as the local scaling '
    'distribution or the local rank distributions")'
)
REBUTTAL_AT_9 = (
    '"increasing the classifier free guidance scale for COCO prompts to 9 would decrease the statistical '
    "significance for the local complexity descriptor making it non-discriminative. However for the local "
    'rank and local scaling distributions, the significance is still retained with a p-value of < 0.000001"'
)
NOT_DISCRIMINATIVE_D = 0.5  # "non-discriminative": prompt means closer than half a pooled s.d.


def final_latent_verdicts(tested: pd.DataFrame, cross: pd.DataFrame, maps, copy_rates=None) -> list:
    """The rebuttal's two final-latent contrasts ("at denoising step 50"), prompts as the units.

    - both groups at guidance 7.5: psi, nu and delta separate memorized from ordinary prompts
      (permutation p < 0.05: reproduced; the claim has no direction, so a test short of 0.05 is
      inconclusive);
    - memorized at 7.5 against ordinary at 9 (the rebuttal raises the guidance for the COCO prompts
      only): psi and nu still separate them; delta does not ("non-discriminative": permutation p >= 0.05
      and prompt means within half a pooled standard deviation, reproduced; p < 0.05, not reproduced).

    The paper's own test, Welch's t-test over samples, is printed beside and does not decide (a
    memorized prompt's samples are near-copies of one image). The decoder is the paper's map; the
    UNet's rows are sensitivity rows beside it."""
    from ...tools.ledger import SENSITIVITY, Claim, Significant, Verdict

    verdicts = []
    low = min(tested.index.get_level_values("guidance"))
    high = max(tested.index.get_level_values("guidance"))
    for name in maps:
        for descriptor in DESCRIPTORS:
            row = tested.loc[(name, low, descriptor)]
            memorized, ordinary = int(row["prompts memorized"]), int(row["prompts ordinary"])
            key = f"memorization_final_latent_{descriptor}_g{low:g}"
            claim = Claim(
                key if name == "decoder" else f"{key}_{name}",
                f"at the final latent, {descriptor} separates memorized from ordinary prompts, both at "
                f"guidance {low:g} ({REBUTTAL_AT_75})",
                "rebuttal (answer on Fig. 8); paper Sec. 4, Fig. 8",
                f"{descriptor} at the final latent, {name} map, memorized - ordinary; prompt-level "
                f"permutation p ({memorized} memorized and {ordinary} ordinary prompts), and the paper's "
                "sample-level t-test (pseudo-replicated, not deciding)",
                Significant(0, "permutation p"),
                models=("SD",),
            )
            if name != "decoder":
                claim = replace(claim, kind=SENSITIVITY, primary=key)
            p = row["final latent: permutation p"]
            value = (
                f"{row['final latent: memorized - ordinary']:+.3g} "
                f"(d = {row['final latent: cohen d']:+.2f}), "
                f"permutation p = {p:.2g}, sample-level p = {row['final latent: sample-level Welch p']:.2g}"
            )
            verdict = claim.verdict(p) if _can_reach(memorized, ordinary) else INCONCLUSIVE
            verdicts += _memorization_gate([Verdict(claim, value, verdict)], copy_rates, low)
        sizes = {d: abs(float(tested.loc[(name, low, d), "final latent: cohen d"])) for d in DESCRIPTORS}
        key = f"memorization_delta_weakest_g{low:g}"
        claim = Claim(
            key if name == "decoder" else f"{key}_{name}",
            'delta separates memorized from ordinary prompts less than psi and nu do ("the difference '
            "between the local complexity distribution of memorized and non-memorized prompts is not as "
            'significant as the local scaling distribution or the local rank distributions")',
            "rebuttal (answer on Fig. 8)",
            f"|Cohen's d| of the prompt means at the final latent, guidance {low:g}, {name} map, per "
            "descriptor",
            "delta's |d| below both psi's and nu's: reproduced; above both: not reproduced",
            models=("SD",),
        )
        if name != "decoder":
            claim = replace(claim, kind=SENSITIVITY, primary=key)
        if not all(np.isfinite(v) for v in sizes.values()):
            verdict = INCONCLUSIVE
        elif sizes["delta"] < min(sizes["psi"], sizes["nu"]):
            verdict = REPRODUCED
        elif sizes["delta"] > max(sizes["psi"], sizes["nu"]):
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        value = ", ".join(f"{d}: {v:.2f}" for d, v in sizes.items())
        verdicts += _memorization_gate([Verdict(claim, value, verdict)], copy_rates, low)
        if high == low:
            continue
        for descriptor in DESCRIPTORS:
            row = cross.loc[(name, descriptor)]
            memorized, ordinary = int(row["units first"]), int(row["units second"])
            key = f"memorization_final_latent_{descriptor}_memorized{low:g}_ordinary{high:g}"
            separates = descriptor != "delta"
            claim = Claim(
                key if name == "decoder" else f"{key}_{name}",
                f"memorized prompts at guidance {low:g} against ordinary prompts at {high:g}: {descriptor} "
                f"{'still separates them' if separates else 'no longer separates them'} ({REBUTTAL_AT_9})",
                "rebuttal (answer on Fig. 8)",
                f"{descriptor} at the final latent, {name} map, memorized ({low:g}) - ordinary ({high:g}); "
                f"prompt-level permutation p and Cohen's d of the prompt means ({memorized} memorized and "
                f"{ordinary} ordinary prompts)",
                Significant(0, "permutation p")
                if separates
                else f"permutation p >= 0.05 and |d| < {NOT_DISCRIMINATIVE_D:g}: reproduced; p < 0.05: not "
                "reproduced",
                models=("SD",),
            )
            if name != "decoder":
                claim = replace(claim, kind=SENSITIVITY, primary=key)
            p, d = row["permutation p"], row["cohen d"]
            value = f"{row['difference']:+.3g} (d = {d:+.2f}), permutation p = {p:.2g}"
            if not _can_reach(memorized, ordinary):
                verdict = INCONCLUSIVE
            elif separates:
                verdict = claim.verdict(p)
            else:
                verdict = (
                    NOT_REPRODUCED
                    if p < 0.05
                    else REPRODUCED
                    if np.isfinite(d) and abs(d) < NOT_DISCRIMINATIVE_D
                    else INCONCLUSIVE
                )
            # both guidance scales' samples enter: the copy criterion must hold at the memorized side's
            verdicts += _memorization_gate([Verdict(claim, value, verdict)], copy_rates, low)
    return verdicts
