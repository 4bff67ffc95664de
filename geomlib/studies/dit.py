"""The DiT study (the rebuttal's DiT-XL/2 experiment): descriptors, level sets and diversity per level set.

``notebooks/dit`` loads the model with ``geomlib.models.dit.load_dit`` (the
pretrained DiT-XL/2, or a small DiT trained here on MNIST) and analyses the
transformer's noise prediction at t = 0 on its final latents.
"""

from __future__ import annotations

import numpy as np

__all__ = ["claims", "summary"]


def summary(frame, vendi, correlations, description: str) -> dict:
    """The numbers the figures show, for the closing printout."""
    column = [c for c in vendi.columns if c.startswith("vendi@")][0]
    return {
        "model": description,
        "images": len(frame),
        "median": {name: float(frame[name].median()) for name in ("psi", "nu", "delta")},
        "spearman": {f"{x}~{y}": float(row["spearman rho"]) for (x, y), row in correlations.iterrows()},
        "vendi_per_psi_level_set": {
            scheme: [None if np.isnan(v) else float(v) for v in vendi.loc[scheme, column]]
            for scheme in ("equal width", "equal count")
        },
        "level_set_counts": [int(c) for c in vendi.loc["equal width", "count"]],
    }


def claims(vendi) -> list:
    """The DiT notebook's ledger: the rebuttal's DiT-XL/2 diversity claim, on this run's model."""
    from ..methods.analysis import rise_then_drop
    from ..tools.ledger import REBUTTAL, Claim, Verdict

    verdicts = []
    column = [c for c in vendi.columns if c.startswith("vendi@")][0]
    for scheme in ("equal count", "equal width"):
        claim = Claim(
            f"vendi_rises_then_drops_{scheme.replace(' ', '_')}",
            "the Vendi score rises over the local-scaling level sets and drops in the highest ones",
            "rebuttal DiT-XL/2 (Imagewoof) level sets and Vendi",
            f"Vendi (pixel cosine) per psi level set, {scheme} level sets, {column.split('@')[1]} images each"
            + (
                " (the primary test: counts cannot shape it)" if scheme == "equal count" else " (the paper's)"
            ),
            "the largest score at an interior level set, both end level sets lower by more than twice its "
            "subsampling s.d.; largest at an end: not reproduced",
            REBUTTAL + "imagewoof_combined_vendi.pdf",
        )
        verdict, value = rise_then_drop(vendi.loc[scheme])
        verdicts.append(Verdict(claim, value, verdict))
    return verdicts
