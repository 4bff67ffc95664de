"""The claims ledger of ``notebooks/subspace_editing``: each claim, its source, criterion and verdict."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ...tools.ledger import decide

# --- the ledger -----------------------------------------------------------------------------------


def claims(name: str, results: dict, cfg) -> list:
    """The ledger for one model: LOCO Edit's and Shallow Diffuse's claims, each with its criterion.

    The claims are about the structure a trained model learned (low rank, linear, transferable edits,
    an invisible and detectable mark), so each reads the model ("pixel model" or "latent model", its
    quality gate applied by ``ledger.gated``); the subspace-iteration row is a check of the numerics,
    which holds on any model."""
    return _claims(name, results, cfg)


SLIDES = "Qu's slides, LOCO Edit"
INVISIBLE_PSNR = 30.0  # dB: a mark this far below the image's own signal is not seen (the usual bar)


def _claims(name: str, results: dict, cfg) -> list:
    from ...tools.ledger import CHECK, Claim, Threshold, Verdict

    slug = "pixel" if name.startswith("pixel") else "latent"
    model = (f"{slug} model",)
    verdicts = []

    spectrum = results["spectrum"]
    ratio = spectrum.loc[cfg.edit_timestep, "rank ratio"]
    claim = Claim(
        f"low_rank_jacobian_{slug}",
        "at mid noise levels the posterior-mean predictor's Jacobian is low rank (\"Low-rankness of the "
        'Jacobian")',
        f"{SLIDES}: the assumptions",
        f"{name}: median numerical rank / dimension at t = {cfg.edit_timestep} "
        f"(singular values > {cfg.rank_tol:g} x the largest)",
        Threshold("rank ratio", 0.5, against=0.9, above=False),
        models=model,
    )
    verdicts.append(Verdict(claim, f"{ratio:.2f}", claim.verdict(ratio)))

    check = results["check"]
    worst = check["largest angle (deg)"].max()
    claim = Claim(
        f"subspace_iteration_{slug}",
        "the editing directions can be found with Jacobian-vector products alone (no full Jacobian)",
        "LOCO Edit (generalized power method)",
        f"{name}: largest principal angle between the top-{cfg.top_k} subspace from "
        f"{cfg.iterations} subspace iterations and the exact SVD's, over {len(check)} inputs",
        Threshold("largest angle", 5, against=30, above=False, unit=" degrees"),
        kind=CHECK,  # numerics: holds on any map when the code is right
    )
    verdicts.append(Verdict(claim, f"{worst:.2f} deg", claim.verdict(worst)))

    linear = results["linearity"]
    r2 = linear["R2"].median()
    claim = Claim(
        f"edit_linearity_{slug}",
        'the posterior-mean predictor is locally linear: the edit is proportional to lambda ("Local '
        'linearity of the PMP")',
        f"{SLIDES}: the assumptions; (d) Linearity",
        f"{name}: median R^2 of change = lambda g of the posterior-mean predictor's output at t = "
        f"{cfg.edit_timestep} (one step, where the claim is made) over {len(linear)} (input, direction) "
        f"pairs, lambda in {tuple(cfg.edit_strengths)}; the image after {cfg.ddim_steps} DDIM steps beside",
        Threshold("median R^2", 0.9, against=0.5),
        models=model,
    )
    image_r2 = results["linearity (image)"]["R2"].median()
    verdicts.append(Verdict(claim, f"{r2:.3f} (image after DDIM: {image_r2:.3f})", claim.verdict(r2)))

    for key, where in (
        ("transfer_images", "other inputs, same t"),
        ("transfer_time", "the same inputs, another t"),
    ):
        table = results[key]
        claim = Claim(
            f"edit_{key}_{slug}",
            'an editing direction found on one image makes the same edit elsewhere ("(b) Homogeneity & '
            'Transferability"; "Transfer Success Rate 0.91")',
            f"{SLIDES}: (b) Homogeneity & Transferability; the comparison table",
            f"{name}: on {where}, the cosine of each direction's image change with the change it makes on "
            "the image it was found on (the same edit?), paired against the same cosine for random "
            "directions (what any push shares); median, two-sided Wilcoxon test; the gain in size over a "
            "random push beside",
            "median consistency >= 0.5 and above the random directions' (Wilcoxon p < 0.05): reproduced; "
            "not above the random directions' (p < 0.05 the other way, or median below 0.2): not reproduced",
            models=model,
        )
        gain = table["gain over random"]
        consistency, random = table["consistency"], table["random consistency"]
        diff = (consistency - random).to_numpy()
        p = stats.wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
        holds = consistency.median() >= 0.5 and np.median(diff) > 0 and p < 0.05
        fails = (np.median(diff) < 0 and p < 0.05) or consistency.median() < 0.2
        value = (
            f"median consistency {consistency.median():.2f} (random {random.median():.2f}, p = {p:.2g}); "
            f"median gain {gain.median():.2f}"
        )
        verdicts.append(Verdict(claim, value, decide(holds, fails)))

    compose = results["composability"]["relative error"]
    claim = Claim(
        f"edit_composability_{slug}",
        'edits compose: moving along v_i + v_j does both edits ("(c) Composability & Disentanglement")',
        f"{SLIDES}: (c) Composability & Disentanglement",
        f"{name}: median relative error |change(v_i + v_j) - change(v_i) - change(v_j)| / "
        f"|change(v_i + v_j)| of the posterior-mean predictor's output at t = {cfg.edit_timestep}, "
        f"lambda = {max(cfg.edit_strengths):g}; the image after DDIM beside",
        Threshold("median", 0.2, against=0.5, above=False),
        models=model,
    )
    image_error = results["composability (image)"]["relative error"].median()
    value = f"{compose.median():.3f} (image after DDIM: {image_error:.3f})"
    verdicts.append(Verdict(claim, value, claim.verdict(compose.median())))

    local = results["locality"]
    share = local["masked + projected (LOCO)"].median()
    claim = Claim(
        f"edit_locality_{slug}",
        'the masked, null-space-projected direction edits inside the chosen region only ("(a) Precise and '
        'Localized"; "Local Edit Success Rate 0.80")',
        f"{SLIDES}: (a) Precise and Localized; the comparison table",
        f"{name}: median share of the LOCO direction's image change inside the {cfg.mask_region} half "
        f"(which holds half the pixels), over {len(local)} inputs; the global top direction's beside",
        "share >= 0.8: reproduced; share <= 0.6 (near the region's share of the pixels, 0.5): not reproduced",
        models=model,
    )
    verdicts.append(
        Verdict(
            claim,
            f"median share {share:.2f} (global top direction {local['global top direction'].median():.2f})",
            decide(share >= 0.8, share <= 0.6),
        )
    )

    marks = results["watermark"].table
    null_psnr = marks.loc[("null space", "clean"), "PSNR vs unmarked (dB)"]
    plain_psnr = marks.loc[("plain", "clean"), "PSNR vs unmarked (dB)"]
    claim = Claim(
        f"watermark_invisible_{slug}",
        "a watermark in the Jacobian's null space is invisible (\"Shallow Diffuse: Robust and Invisible "
        'Watermarking"; image quality as without the mark: FID 25.58 against 25.56)',
        "Qu's slides, Shallow Diffuse",
        f"{name}: median PSNR of the marked image against the unmarked one (strength "
        f"{cfg.watermark_strength:g}); the same pattern unprojected beside",
        f"PSNR >= {INVISIBLE_PSNR:g} dB: reproduced; below 20 dB (plainly visible): not reproduced",
        models=model,
    )
    value = f"{null_psnr:.1f} dB (unprojected: {plain_psnr:.1f} dB)"
    verdicts.append(Verdict(claim, value, decide(null_psnr >= INVISIBLE_PSNR, null_psnr < 20)))
    clean_auc = marks.loc[("null space", "clean"), "AUC"]
    corrupted = marks.xs("null space").drop("clean")["AUC"]
    claim = Claim(
        f"watermark_detectable_{slug}",
        "the null-space watermark is detected after DDIM inversion, clean and under corruptions (the "
        "robustness table: AUC 1.00 clean and under JPEG, blur, noise and colour jitter)",
        "Qu's slides, Shallow Diffuse",
        f"{name}: detection AUC of {cfg.watermark_images} marked against {cfg.watermark_images} "
        f"unmarked samples, clean and under {', '.join(corrupted.index)}",
        "AUC >= 0.9 clean and under every corruption: reproduced; clean AUC < 0.7: not reproduced",
        models=model,
    )
    worst_auc = min(clean_auc, corrupted.min())
    verdict = decide(worst_auc >= 0.9, clean_auc < 0.7)
    verdicts.append(Verdict(claim, f"clean {clean_auc:.2f}, worst corrupted {corrupted.min():.2f}", verdict))
    return verdicts
