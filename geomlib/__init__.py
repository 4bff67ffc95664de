"""geomlib: local scaling, local rank and local complexity of generative models.

The companion package of the notebooks reproducing "What Secrets Do Your
Manifolds Hold? Understanding the Local Geometry of Generative Models"
(Humayun et al., ICLR 2025). The one entry point is :func:`local_geometry`;
``flax_with_preactivations`` and ``torch_with_preactivations`` wrap a Flax
module or a PyTorch model so that it also returns the pre-activations local
complexity counts.

Layout: ``core`` (the descriptors: ``local_geometry``, ``descriptors``,
``directions``, ``result``, ``seeds``, ``backends``); ``models`` (the
generators behind one interface, ``models.base.Generator``, each with its
settings); ``pipelines`` (any diffusers pipeline); ``methods`` (what the
studies apply around the descriptors); ``studies`` (one per notebook, its
settings at the top); ``tools`` (scale, plotting, the claims ledger);
``presets``, ``settings``, ``data``, ``io`` at the root.
"""

__version__ = "0.1.0"

from .core.backends.jax_backend import flax_with_preactivations
from .core.directions import Polytope, Sketch, expected_psi_shift
from .core.local_geometry import local_geometry
from .core.result import LocalGeometry

__all__ = [
    "LocalGeometry",
    "Polytope",
    "Sketch",
    "expected_psi_shift",
    "flax_with_preactivations",
    "local_geometry",
    "torch_with_preactivations",
]


def __getattr__(name: str):
    """``torch_with_preactivations`` is imported on first use, so ``import geomlib`` does not import torch."""
    if name == "torch_with_preactivations":
        from .core.backends.torch_backend import torch_with_preactivations

        return torch_with_preactivations
    raise AttributeError(f"module 'geomlib' has no attribute {name!r}")
