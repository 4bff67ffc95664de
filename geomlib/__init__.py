"""geomlib: local scaling, local rank and local complexity of generative models.

The companion package of the notebooks reproducing "What Secrets Do Your
Manifolds Hold? Understanding the Local Geometry of Generative Models"
(Humayun et al., ICLR 2025). The one entry point is :func:`local_geometry`.
"""

__version__ = "0.1.0"

from .backends.jax_backend import flax_with_preactivations
from .directions import Polytope, Sketch, expected_psi_shift
from .local_geometry import local_geometry
from .result import LocalGeometry

__all__ = [
    "LocalGeometry",
    "Polytope",
    "Sketch",
    "expected_psi_shift",
    "flax_with_preactivations",
    "local_geometry",
]
