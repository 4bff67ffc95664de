"""What every family shares: the registry, the argument checks, x0 from a prediction, math attention."""

from __future__ import annotations

import copy
import functools
import importlib
from collections.abc import Callable

import torch

KINDS = ("decoder", "denoiser", "x0")

# pipeline class -> the module of its family (each defines decoder_scale, denoiser)
FAMILIES = {
    "StableDiffusionPipeline": "stable_diffusion",
    "StableDiffusionImg2ImgPipeline": "stable_diffusion",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
    "DiTPipeline": "dit",
    "PixArtAlphaPipeline": "pixart",
    "PixArtSigmaPipeline": "pixart",
    "SanaPipeline": "sana",
}


def family(pipe):
    """The module that forms ``pipe``'s maps; one sentence naming the supported pipelines otherwise."""
    name = type(pipe).__name__
    if name not in FAMILIES:
        raise ValueError(f"pipe is a {name}; supported pipelines: {', '.join(sorted(FAMILIES))}")
    return importlib.import_module(f".{FAMILIES[name]}", __package__)


DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def analysed_map(
    pipe, kind: str, *, timestep=None, guidance_scale: float | None = None, dtype=None, **conditioning
):
    """A function of ONE latent ``(C, H, W)``: ``pipe``'s decoder, guided denoiser or x0 (see the package).

    dtype: None computes in the pipeline's own precision; ``torch.bfloat16`` or
    ``torch.float16`` run a copy of its networks (and the conditioning) in
    that precision, as a pipeline loaded with ``torch_dtype`` runs, the output
    returned in float32; ``torch.float32`` needs float32 weights. ``make
    bench`` measures what each costs in accuracy
    (``benchmarks/bench_pipelines.py``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be None or one of {DTYPES}; got {dtype!r}")
    module = family(pipe)
    network = getattr(pipe, "transformer", None) or pipe.unet
    if dtype == torch.float32 and network.dtype != torch.float32:
        raise ValueError(
            f"dtype=torch.float32 needs float32 weights; the pipeline holds {network.dtype}: load it with "
            "torch_dtype=torch.float32"
        )
    if dtype in (torch.bfloat16, torch.float16):
        pipe, conditioning = _in_precision(pipe, conditioning, dtype)
    if kind == "decoder":
        if timestep is not None or guidance_scale is not None or conditioning:
            raise ValueError(
                "the decoder map takes a latent only: no timestep, guidance_scale or conditioning"
            )
        return _wrap(decoder(pipe), pipe, dtype)
    if timestep is None:
        raise ValueError(f"kind={kind!r} needs timestep, a value of the pipeline's scheduler timesteps")
    t = torch.as_tensor(timestep, device=pipe.device)
    predict = module.denoiser(pipe, t, guidance_scale, conditioning)
    if kind == "denoiser":
        return _wrap(predict, pipe, dtype)
    to_x0 = clean_estimate(pipe.scheduler, t)
    return _wrap(lambda x: to_x0(x, predict(x)), pipe, dtype)


def decoder(pipe) -> Callable:
    """``x -> vae.decode(x / scaling_factor + shift_factor)``: one latent's image, as pipelines decode."""
    vae = pipe.vae
    scale = vae.config.scaling_factor
    shift = getattr(vae.config, "shift_factor", None) or 0.0

    def decode(x):
        return vae.decode((x[None] / scale + shift).to(vae.dtype)).sample[0]

    return decode


def clean_estimate(scheduler, t) -> Callable:
    """``(x, prediction) -> x0`` at timestep ``t`` for the scheduler's parametrization.

    Flow matching (``FlowMatch*`` schedulers): ``x = (1 - sigma) x0 + sigma
    noise`` with ``sigma = t / num_train_timesteps`` and the model predicting
    the velocity ``noise - x0``, so ``x0 = x - sigma v``. DDPM-type schedulers
    whose loop feeds the latent as it is (DDIM, DDPM, PNDM, ...): ``x =
    sqrt(abar) x0 + sqrt(1 - abar) eps``, and ``prediction_type`` says
    whether the model gives ``eps``, ``v`` or ``x0``.
    """
    name = type(scheduler).__name__
    config = scheduler.config
    if name.startswith("FlowMatch"):
        sigma = float(t) / config.num_train_timesteps
        return lambda x, v: x - sigma * v
    if getattr(scheduler, "init_noise_sigma", 1.0) != 1.0 or not hasattr(scheduler, "alphas_cumprod"):
        raise ValueError(
            f"x0 is formed for DDPM-type schedulers that feed the latent unscaled (DDIM, DDPM, PNDM) and for "
            f"flow matching; the pipeline has {name}: use DDIMScheduler.from_config(pipe.scheduler.config)"
        )
    abar = float(scheduler.alphas_cumprod[int(t)])
    a, s = abar**0.5, (1 - abar) ** 0.5
    kind = config.prediction_type
    if kind == "epsilon":
        return lambda x, eps: (x - s * eps) / a
    if kind == "v_prediction":
        return lambda x, v: a * x - s * v
    if kind == "sample":
        return lambda x, x0: x0
    raise ValueError(f"unknown prediction_type {kind!r} of {name}")


def scaled_input(scheduler, t) -> Callable:
    """``scheduler.scale_model_input(x, t)`` as the loop calls it, on a copy (its step index is state)."""
    own = copy.deepcopy(scheduler)
    if not hasattr(own, "scale_model_input"):
        return lambda x: x
    if hasattr(own, "sigmas") and (own.timesteps is None or not bool(torch.any(own.timesteps == t.cpu()))):
        raise ValueError(
            f"timestep={float(t):g} is not among the scheduler's timesteps: call "
            "pipe.scheduler.set_timesteps(steps) and pass one of pipe.scheduler.timesteps "
            f"({type(own).__name__} scales its input per step)"
        )
    return lambda x: own.scale_model_input(x, t)


def guided(predict_cond: Callable, predict_uncond: Callable | None, scale: float | None) -> Callable:
    """``uncond + scale (cond - uncond)``, the pipelines' classifier-free guidance (cond alone without it)."""
    if predict_uncond is None or scale is None or scale <= 1:
        return predict_cond
    return lambda x: (lambda u, c: u + scale * (c - u))(predict_uncond(x), predict_cond(x))


def _in_precision(pipe, conditioning: dict, dtype):
    """A shallow copy of ``pipe`` whose networks are copies in ``dtype``, and the conditioning in ``dtype``
    (the pipeline itself is left as it was)."""
    from diffusers.utils import logging

    half = copy.copy(pipe)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # .to(dtype) warns about modules to keep in float32, though it has none
    try:
        for name in ("unet", "transformer", "vae"):
            module = getattr(pipe, name, None)
            if (
                module is not None
            ):  # object.__setattr__: the pipeline's own would re-register it in the config
                object.__setattr__(half, name, copy.deepcopy(module).to(dtype))
    finally:
        logging.set_verbosity(verbosity)
    cast = {
        key: value.to(dtype) if torch.is_tensor(value) and value.is_floating_point() else value
        for key, value in conditioning.items()
    }
    return half, cast


def _wrap(fn: Callable, pipe, dtype) -> Callable:
    """``fn`` with scaled-dot-product attention on PyTorch's math kernel during the call (restored after):
    ``torch.func`` batches and differentiates it, which the fused CPU kernels do not allow; the output in
    float32 whatever precision computed it."""
    from ..core.backends.torch_backend import math_sdpa

    @functools.wraps(fn)
    @math_sdpa
    def wrapped(x):
        return fn(x).float()

    wrapped.geomlib_backend = "torch"
    wrapped.geomlib_device = pipe.device  # where local_geometry puts NumPy inputs
    return wrapped


def need(conditioning: dict, name: str, pipe) -> torch.Tensor:
    """A conditioning tensor the map cannot form itself, on the pipeline's device."""
    if conditioning.get(name) is None:
        raise ValueError(f"{type(pipe).__name__} needs {name} (precomputed, as its __call__ takes it)")
    return conditioning[name].to(pipe.device)


def optional(conditioning: dict, name: str, pipe) -> torch.Tensor | None:
    """A conditioning tensor the pipeline can do without (an attention mask), on its device."""
    return None if conditioning.get(name) is None else conditioning[name].to(pipe.device)


def check_known(conditioning: dict, known: tuple[str, ...], pipe) -> None:
    unknown = sorted(set(conditioning) - set(known))
    if unknown:
        raise ValueError(f"unknown conditioning {unknown} for {type(pipe).__name__}; it takes {list(known)}")
