"""Model definitions: each file a settings dataclass and the module, nothing else."""

from .mlp_denoiser import MLPDenoiser, MLPDenoiserConfig

__all__ = ["MLPDenoiser", "MLPDenoiserConfig"]
