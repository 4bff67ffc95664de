"""The claims ledger of ``notebooks/subspace_editing``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ...tools.ledger import decide

# --- the ledger -----------------------------------------------------------------------------------


# The one claim about the numerics, not about what the model learned: it holds or fails on any model.
NUMERICAL_CLAIMS = ("subspace_iteration",)


def claims(name: str, results: dict, cfg, gate=None) -> list:
    """The ledger for one model: LOCO Edit's and Shallow Diffuse's claims, each with its criterion.

    The claims are about the structure a trained model learned (low rank, linear, transferable edits,
    an invisible and detectable mark), so on a model that fails its quality gate (``gate``, from
    ``geomlib.methods.quality``) those rows are *inconclusive* whatever the numbers (printed, with the
    verdict they would have had); the subspace-iteration row is about the numerics and keeps its verdict.
    """
    verdicts = _claims(name, results, cfg)
    if gate is None or gate.passed:
        return verdicts
    from ...tools.ledger import inconclusive_because

    return [v if v.claim.key.startswith(NUMERICAL_CLAIMS) else inconclusive_because([v])[0] for v in verdicts]


def _claims(name: str, results: dict, cfg) -> list:
    from ...tools.ledger import Claim, Significant, Threshold, Verdict

    slug = "pixel" if name.startswith("pixel") else "latent"
    verdicts = []

    spectrum = results["spectrum"]
    ratio = spectrum.loc[cfg.edit_timestep, "rank ratio"]
    claim = Claim(
        f"low_rank_jacobian_{slug}",
        "at mid noise levels the posterior-mean predictor's Jacobian is low rank",
        "LOCO Edit (Chen, Zhang et al. 2024) Sec. 3; Qu's tutorial slides (Dec. 2024)",
        f"{name}: median numerical rank / dimension at t = {cfg.edit_timestep} "
        f"(singular values > {cfg.rank_tol:g} x the largest)",
        Threshold("rank ratio", 0.5, against=0.9, above=False),
    )
    verdicts.append(Verdict(claim, f"{ratio:.2f}", claim.verdict(ratio)))

    check = results["check"]
    worst = check["largest angle (deg)"].max()
    claim = Claim(
        f"subspace_iteration_{slug}",
        "the editing directions can be found with Jacobian-vector products alone (no full Jacobian)",
        "LOCO Edit Sec. 4 (generalized power method)",
        f"{name}: largest principal angle between the top-{cfg.top_k} subspace from "
        f"{cfg.iterations} subspace iterations and the exact SVD's, over {len(check)} inputs",
        Threshold("largest angle", 5, against=30, above=False, unit=" degrees"),
    )
    verdicts.append(Verdict(claim, f"{worst:.2f} deg", claim.verdict(worst)))

    linear = results["linearity"]
    r2 = linear["R2"].median()
    claim = Claim(
        f"edit_linearity_{slug}",
        "the posterior-mean predictor is locally linear: the edit is proportional to lambda",
        "LOCO Edit Sec. 3 (local linearity), Fig. 2",
        f"{name}: median R^2 of change = lambda g of the posterior-mean predictor's output at t = "
        f"{cfg.edit_timestep} (one step, where the claim is made) over {len(linear)} (input, direction) "
        f"pairs, lambda in {tuple(cfg.edit_strengths)}; the image after {cfg.ddim_steps} DDIM steps beside",
        Threshold("median R^2", 0.9, against=0.5),
    )
    image_r2 = results["linearity (image)"]["R2"].median()
    verdicts.append(Verdict(claim, f"{r2:.3f} (image after DDIM: {image_r2:.3f})", claim.verdict(r2)))

    for key, where in (
        ("transfer_images", "other inputs, same t"),
        ("transfer_time", "the same inputs, another t"),
    ):
        gain = results[key]["gain over random"]
        claim = Claim(
            f"edit_{key}_{slug}",
            "an editing direction found on one image transfers (to other images and noise levels)",
            "LOCO Edit Sec. 4 (homogeneity and transferability), Fig. 5",
            f"{name}: image change of the source's top directions on {where} over that of random "
            "unit directions (gain); median, and a two-sided Wilcoxon test of log gain = 0",
            Significant(+1, "Wilcoxon p", "the median log gain"),
        )
        p = stats.wilcoxon(np.log(gain), alternative="two-sided").pvalue
        verdicts.append(
            Verdict(
                claim,
                f"median gain {gain.median():.2f} (p = {p:.2g})",
                claim.verdict(p, np.log(gain).median()),
            )
        )

    compose = results["composability"]["relative error"]
    claim = Claim(
        f"edit_composability_{slug}",
        "edits compose: moving along v_i + v_j does both edits",
        "LOCO Edit Sec. 4 (composability), Fig. 6",
        f"{name}: median relative error |change(v_i + v_j) - change(v_i) - change(v_j)| / "
        f"|change(v_i + v_j)| of the posterior-mean predictor's output at t = {cfg.edit_timestep}, "
        f"lambda = {max(cfg.edit_strengths):g}; the image after DDIM beside",
        Threshold("median", 0.2, against=0.5, above=False),
    )
    image_error = results["composability (image)"]["relative error"].median()
    value = f"{compose.median():.3f} (image after DDIM: {image_error:.3f})"
    verdicts.append(Verdict(claim, value, claim.verdict(compose.median())))

    local = results["locality"]
    diff = local["masked + projected (LOCO)"] - local["global top direction"]
    p = stats.wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
    claim = Claim(
        f"edit_locality_{slug}",
        "the masked, null-space-projected direction edits inside the chosen region only",
        "LOCO Edit Alg. 1 and Sec. 4 (precise localized editing)",
        f"{name}: share of the image change inside the {cfg.mask_region} half, LOCO direction against "
        f"the global top direction, paired over {len(local)} inputs (Wilcoxon)",
        Significant(+1, "Wilcoxon p", "the median share difference (LOCO - global)"),
    )
    verdicts.append(
        Verdict(
            claim,
            f"median share {local['masked + projected (LOCO)'].median():.2f} vs "
            f"{local['global top direction'].median():.2f} (p = {p:.2g})",
            claim.verdict(p, diff.median()),
        )
    )

    marks = results["watermark"].table
    null_psnr = marks.loc[("null space", "clean"), "PSNR vs unmarked (dB)"]
    plain_psnr = marks.loc[("plain", "clean"), "PSNR vs unmarked (dB)"]
    claim = Claim(
        f"watermark_invisible_{slug}",
        "a watermark in the Jacobian's null space barely changes the image",
        "Shallow Diffuse (Li, Zhang & Qu 2024) Sec. 3",
        f"{name}: median PSNR of the marked image against the unmarked one, null-space mark and the "
        f"same pattern unprojected (strength {cfg.watermark_strength:g})",
        Threshold("null-space PSNR minus the plain mark's, in dB,", 3, against=0),
    )
    gap = null_psnr - plain_psnr
    verdicts.append(Verdict(claim, f"{null_psnr:.1f} vs {plain_psnr:.1f} dB", claim.verdict(gap)))
    clean_auc = marks.loc[("null space", "clean"), "AUC"]
    corrupted = marks.xs("null space").drop("clean")["AUC"]
    claim = Claim(
        f"watermark_detectable_{slug}",
        "the null-space watermark is detected after DDIM inversion, clean and under corruptions",
        "Shallow Diffuse Sec. 4 (robustness)",
        f"{name}: detection AUC of {cfg.watermark_images} marked against {cfg.watermark_images} "
        f"unmarked samples, clean and under {', '.join(corrupted.index)}",
        "AUC >= 0.9 clean and under every corruption: reproduced; clean AUC < 0.7: not reproduced",
    )
    worst_auc = min(clean_auc, corrupted.min())
    verdict = decide(worst_auc >= 0.9, clean_auc < 0.7)
    verdicts.append(Verdict(claim, f"clean {clean_auc:.2f}, worst corrupted {corrupted.min():.2f}", verdict))
    return verdicts
