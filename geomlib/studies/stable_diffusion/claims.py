"""The claims ledger of ``notebooks/stable_diffusion``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ...core.local_geometry import DESCRIPTORS
from ...tools.ledger import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, decide
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


def claims(cfg: SDConfig, anchor_psi, slice_psi, level_vendi, corruption_table, tested) -> list:
    """The Stable Diffusion notebook's ledger (one model; the units are anchors, images and prompts)."""
    from ...methods.analysis import rise_then_drop
    from ...tools.ledger import REBUTTAL, Claim, Verdict, p_verdict

    maps = list(dict.fromkeys(corruption_table.index.get_level_values("map")))
    main = maps[0]
    verdicts = []
    median = float(np.median(slice_psi))
    claim = Claim(
        "slice_anchors_in_low_psi_basins",
        "generated latents sit in low-local-scaling basins of the latent slice, separated by higher ridges",
        "paper Sec. 4, Fig. 4",
        f"psi of the {main} map at the three generated anchors against the median over the slice",
        "all three below the slice's median; all three above: not reproduced",
    )
    below = [float(p) < median for p in anchor_psi]
    verdict = decide(all(below), not any(below))
    value = ", ".join(f"{p:.3g}" for p in anchor_psi) + f" (slice median {median:.3g})"
    verdicts.append(Verdict(claim, value, verdict))

    for scheme in ("equal count", "equal width"):
        claim = Claim(
            f"level_set_vendi_rises_then_drops_{scheme.replace(' ', '_')}",
            "diversity (Vendi) rises over the local-scaling level sets and drops in the highest ones",
            "paper Sec. 4 level sets; rebuttal SD level-set figure",
            f"Vendi of generated images per psi level set of the {main} map, {scheme} level sets, "
            f"{cfg.vendi_subsample} images each",
            "the largest score at an interior level set, both end level sets lower by more than twice its "
            "subsampling s.d.; largest at an end: not reproduced",
            REBUTTAL + "local_scaling_levelsets_vendi_humanpref.png",
        )
        verdict, value = rise_then_drop(level_vendi.loc[scheme])
        verdicts.append(Verdict(claim, value, verdict))

    for kind, sign, text in (
        ("blur", -1, "blur lowers local scaling"),
        ("noise", 1, "noise raises local scaling"),
    ):
        for name in maps:
            row = corruption_table.loc[(name, kind, "psi")]
            claim = Claim(
                f"{kind}_{'lowers' if sign < 0 else 'raises'}_psi_{name}",
                text,
                "paper Sec. 4, Fig. 6",
                f"per-image change of psi, {name} map{PAPER_MAP if name == 'decoder' else ''}, "
                f"from clean to the strongest {kind}, {int(row['images'])} images",
                f"Wilcoxon p < 0.05 over images with the median change {'< 0' if sign < 0 else '> 0'}; "
                "significant the other way: not reproduced",
            )
            value = (
                f"median {row['median change']:+.3g}, {row['share of images up']:.0%} of images up, "
                f"p = {row['wilcoxon p']:.2g}"
            )
            verdicts.append(Verdict(claim, value, p_verdict(row["wilcoxon p"], row["median change"], sign)))

    guidance = max(tested.index.get_level_values("guidance"))
    column = [c for c in tested.columns if c.startswith("steps with permutation")][0]
    for name in maps:
        at = tested.loc[(name, guidance)]
        steps = int(at["steps"].iloc[0])
        memorized, ordinary = int(at["prompts memorized"].iloc[0]), int(at["prompts ordinary"].iloc[0])
        units = f"{memorized} memorized and {ordinary} ordinary prompts"
        for descriptor in ("psi", "nu"):
            separated = int(at.loc[descriptor, column])
            claim = Claim(
                f"memorization_separated_by_{descriptor}_{name}",
                f"{descriptor} separates memorized from ordinary prompts strongly along the denoising "
                "trajectory "
                "(the paper: p < 1e-6, at the higher guidance scale)",
                "paper Sec. 4, Fig. 8",
                f"steps (of {steps}) where a prompt-level permutation test gives p < 0.05, {name} map, "
                "guidance "
                f"{guidance:g}; {units}",
                "at least half of the steps; none: not reproduced (inconclusive if too few prompts for "
                "the test to reach 0.05)",
            )
            if math.comb(memorized + ordinary, memorized) * 0.05 <= 1:  # the test cannot reach p < 0.05
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
        claim = Claim(
            f"memorization_delta_weaker_{name}",
            "delta separates memorized from ordinary prompts only weakly (less than psi and nu)",
            "paper Sec. 4, Fig. 8",
            "steps with prompt-level p < 0.05 for delta against psi and nu, "
            f"{name} map, guidance {guidance:g}",
            "fewer for delta than for both psi and nu; more than either: not reproduced",
        )
        counts = {d: int(at.loc[d, column]) for d in DESCRIPTORS}
        if counts["delta"] < min(counts["psi"], counts["nu"]):
            verdict = REPRODUCED
        elif counts["delta"] > max(counts["psi"], counts["nu"]):
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        verdicts.append(Verdict(claim, ", ".join(f"{d}: {n}" for d, n in counts.items()), verdict))
    return verdicts
