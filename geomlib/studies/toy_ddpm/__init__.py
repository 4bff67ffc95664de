"""The toy 2D DDPM study (paper Sec. 3): descriptor maps, on/off-manifold contrasts, nine Gaussians.

``notebooks/toy_ddpm`` calls these functions with a ``ToyDDPMConfig``; the
models and their descriptor arrays are cached (``geomlib.models``) and reused
on the next run.
"""

from .claims import *  # noqa: F403
from .claims import __all__ as _claims
from .study import *  # noqa: F403
from .study import __all__ as _study

__all__ = sorted(_study + _claims)
