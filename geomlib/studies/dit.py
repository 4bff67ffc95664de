"""The DiT study (the rebuttal's DiT-XL/2 experiment): descriptors, level sets and diversity per level set.

``notebooks/dit`` loads the model with ``geomlib.models.dit.load_dit`` (the
pretrained DiT-XL/2, or a small DiT trained here on MNIST) and analyses the
transformer's noise prediction at t = 0 on its final latents.
"""

from __future__ import annotations

import numpy as np

__all__ = ["summary"]


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
