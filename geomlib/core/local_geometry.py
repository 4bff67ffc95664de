"""``local_geometry``: psi, nu and delta of any generator at a batch of inputs.

One call, any backend::

    geom = geomlib.local_geometry(fn, zs, sketch=Sketch(k=120), polytope=Polytope(k=4, r=1e-4))
    geom.psi, geom.nu, geom.delta, geom.settings

The inputs are processed in memory-bounded chunks (all chunks the same size,
so the computation compiles once) with a progress bar; the settings that fix
the numbers are recorded on the result.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .directions import Polytope, Sketch
from .first_call import check_torch_inputs
from .result import LocalGeometry

__all__ = ["BoundMap", "local_geometry"]

DESCRIPTORS = ("psi", "nu", "delta")
MAX_CHUNK = 16384


@dataclass(frozen=True)
class BoundMap:
    """The one-input map ``x -> fn(x, *args)``, keeping ``fn`` and its arguments apart.

    A generator's ``analysed_map`` returns one: callable on one input like any
    map, while ``local_geometry`` and ``geomlib.core.backends.operators`` pass
    ``args`` (parameters, a timestep) as traced arguments, so maps that differ
    only in them share one JAX compilation.
    """

    fn: Callable
    args: tuple = ()

    def __call__(self, x):
        return self.fn(x, *self.args)


def _auto_chunk_size(lin, num_vertices: int, memory_budget_mb: float) -> int:
    """Inputs per chunk so the largest per-input arrays fit the budget.

    Per input the chunk holds the Jacobian or sketch (rows x d), the tangents
    or cotangents pushed through every layer, and the pre-activations at every
    vertex; a factor of 4 covers what XLA keeps alongside.
    """
    columns = (lin.num_sigma if lin.mode else 0) + num_vertices + 1
    floats = columns * (lin.n + lin.d + lin.num_neurons)
    bytes_per_input = 4 * floats * np.dtype(lin.dtype).itemsize
    return int(max(1, min(MAX_CHUNK, memory_budget_mb * 2**20 // bytes_per_input)))


def local_geometry(
    fn: Callable,
    zs,
    *,
    descriptors: Sequence[str] | None = None,
    rank_tol: float | None = None,
    sketch: Sketch | None = None,
    polytope: Polytope | None = None,
    has_aux: bool = False,
    layers: Sequence[str] | None = None,
    chunk_size: int | None = None,
    memory_budget_mb: float = 512,
    return_sigma: bool = False,
    progress: bool = True,
    desc: str = "local geometry",
    backend: str | None = None,
    row_chunk: int | None = None,
    vertex_chunk: int | None = None,
    fn_args: tuple = (),
    allow_tf32: bool = False,
) -> LocalGeometry:
    """Local scaling, local rank and local complexity of ``fn`` at each of ``zs``.

    delta of a plain ``fn`` (no ``has_aux``): the backend finds the input of
    every nonlinearity ``fn`` calls, each call its own site
    (``geomlib.core.backends.jax_capture``: from the traced program;
    ``torch_capture``: functional calls and activation modules alike); the
    site names are in ``settings["all_layers"]`` and ``layers`` restricts them.

    Args:
        fn: the generator (or a :class:`BoundMap`), mapping one input (shape ``zs.shape[1:]``) to an
            output of any shape; with ``has_aux=True`` it returns
            ``(output, preactivations)``, a flat dict ``{layer: array}`` of the
            inputs of its nonlinearities (see ``flax_with_preactivations``).
        zs: inputs, shape ``(N, *input_shape)``.
        descriptors: any of ``"psi"``, ``"nu"``, ``"delta"``; default: psi and
            nu, plus delta when ``has_aux``.
        rank_tol: singular values ``<= rank_tol * sigma_max`` count as zero;
            default ``max(rows, d) * eps`` (NumPy's ``matrix_rank`` rule).
        sketch: ``Sketch(k, seed)`` to use the singular values of ``W A``
            (k vector-Jacobian products); None for the exact Jacobian.
        polytope: the cross-polytope for delta; default ``Polytope()`` (k=4, r=1e-4, the paper's
            Stable Diffusion setting), with k = d for an input of fewer than 4 dimensions. Choose r
            at the scale on which the reader wants to count the map's pieces: delta counts the
            neurons whose pre-activation changes sign within distance r of the input, so at r = 1e-4
            a small MLP on inputs of unit scale counts almost none (its pieces are far larger); try
            r between 1e-3 and 1e-1 of the inputs' spread and report r with the numbers.
        layers: names of the layers whose counts make ``delta`` (default all;
            every layer's count is in ``delta_by_layer``).
        chunk_size: inputs per compiled call; default from ``memory_budget_mb``.
        return_sigma: keep the singular values, shape ``(N, m)``.
        progress: show a progress bar over inputs.
        backend: ``"jax"`` or ``"torch"``; default: torch when ``zs`` is a torch
            tensor, ``fn`` a ``torch.nn.Module`` or built by
            ``torch_with_preactivations``, else JAX. Either way ``fn`` maps ONE
            input and the backend batches it (``jax.vmap`` / ``torch.func.vmap``).
        fn_args: extra arguments passed to ``fn`` after the input, the same
            for every input (e.g. parameters and a timestep). With JAX they are
            traced, not baked in, so calls that differ only in them share one
            compilation.
        row_chunk: torch only: rows of W (or of the identity) pulled back per
            vectorized VJP call, to bound memory for large models (default: all).
        vertex_chunk: torch only: polytope vertices evaluated per vectorized
            forward pass for delta, to bound memory for large models (default:
            all; the counts do not depend on it).
        allow_tf32: torch on a GPU: let matmuls and convolutions round to TF32
            during the computation. Off by default (full float32; the global
            setting is restored after): with the paper's r = 1e-4, delta would
            count rounding noise. For measuring what TF32 changes
            (``scripts/gpu_check.py``).

    Returns:
        LocalGeometry with per-input arrays and ``settings``.
    """
    if isinstance(fn, BoundMap):  # its arguments stay traced: one compilation for every timestep
        fn, fn_args = fn.fn, (*fn.args, *fn_args)
    wanted = _check_descriptors(descriptors, has_aux)
    if not isinstance(allow_tf32, bool):
        raise TypeError(f"allow_tf32 must be True or False; got {allow_tf32!r}")
    for name, value in (("row_chunk", row_chunk), ("vertex_chunk", vertex_chunk)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None; got {value!r}")
    want_sigma = bool({"psi", "nu"} & set(wanted)) or return_sigma
    want_delta = "delta" in wanted
    if sketch is not None and not isinstance(sketch, Sketch):
        raise TypeError(f"sketch must be a geomlib.Sketch or None; got {type(sketch).__name__}")
    if polytope is not None and not isinstance(polytope, Polytope):
        raise TypeError(f"polytope must be a geomlib.Polytope or None; got {type(polytope).__name__}")
    if rank_tol is not None and not (isinstance(rank_tol, (int, float)) and 0 <= rank_tol < 1):
        raise ValueError(f"rank_tol must be None or a number in [0, 1); got {rank_tol!r}")

    backend = _choose_backend(backend, fn, zs)
    if backend == "torch":
        check_torch_inputs(fn, zs)
    captured = want_delta and not has_aux
    if captured:  # a plain function: its nonlinearities are found where it calls them
        if backend == "torch":
            from .backends.torch_capture import capture_preactivations
        else:
            from .backends.jax_capture import capture_preactivations
        fn, has_aux = capture_preactivations(fn), True
    device = None
    if backend == "torch" and type(zs).__module__.startswith("torch"):
        device, zs = zs.device, zs.detach().cpu().numpy()
    elif backend == "torch":  # NumPy inputs go where the model's weights are (a pipeline on a GPU)
        device = getattr(fn, "geomlib_device", None)
        if device is None and _is_torch_module(fn):
            device = next((p.device for p in fn.parameters()), None)
    zs = _as_batch(zs)
    in_shape = zs.shape[1:]
    d = math.prod(in_shape)
    if polytope is None:  # the paper's k = 4 directions, or all of them for a smaller input
        polytope = Polytope(k=min(Polytope.k, d))

    settings = dict(
        has_aux=has_aux,
        sketch=sketch,
        polytope=polytope if want_delta else None,
        rank_tol=rank_tol,
        want_sigma=want_sigma,
        fn_args=tuple(fn_args),
    )
    if backend == "torch":
        from .backends.torch_backend import TorchLinearization

        with _tf32(backend, allow_tf32):  # its shape probe already runs the model
            lin = TorchLinearization(
                fn,
                in_shape,
                zs.dtype,
                device=device,
                row_chunk=row_chunk,
                vertex_chunk=vertex_chunk,
                **settings,
            )
    else:
        if row_chunk is not None:
            raise ValueError(
                "row_chunk applies to the torch backend only (JAX pulls back all rows in one compiled call); "
                f"got row_chunk={row_chunk!r} with backend='jax'"
            )
        if vertex_chunk is not None:
            raise ValueError(
                "vertex_chunk applies to the torch backend only (JAX evaluates all vertices in one compiled "
                f"call); got vertex_chunk={vertex_chunk!r} with backend='jax'"
            )
        from .backends.jax_backend import JaxLinearization

        lin = JaxLinearization(fn, in_shape, zs.dtype, **settings)
    counted = _check_layers(layers, lin.layer_names) if want_delta else []

    num = len(zs)
    if chunk_size is None:
        num_vertices = polytope.num_points if want_delta else 0
        chunk_size = _auto_chunk_size(lin, num_vertices, memory_budget_mb)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    chunk_size = min(chunk_size, max(num, 1))

    flat = zs.reshape(num, d)
    collected: dict[str, list[np.ndarray]] = {}
    with (
        _tf32(backend, allow_tf32),
        tqdm(total=num, desc=desc, unit="input", disable=not progress, mininterval=1.0) as bar,
    ):
        pending = None  # one chunk in flight while the previous one is fetched
        for start in range(0, num, chunk_size):
            chunk = flat[start : start + chunk_size]
            size = len(chunk)
            if size < chunk_size:  # pad so every call has the compiled shape
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], chunk_size - size, axis=0)])
            launched = (lin(chunk), size)
            if pending is not None:
                _collect(pending, collected, bar, lin.fetch)
            pending = launched
        if pending is not None:
            _collect(pending, collected, bar, lin.fetch)
    arrays = {name: np.concatenate(parts) for name, parts in collected.items()}

    result = LocalGeometry(
        settings=_settings(lin, backend, wanted, sketch, polytope, counted, want_delta, captured)
    )
    if want_sigma:
        if "psi" in wanted:
            result.psi = arrays["psi"]
        if "nu" in wanted:
            result.nu = arrays["nu"]
        result.rank = arrays["rank"]
        if return_sigma:
            result.sigma = arrays["sigma"]
    if want_delta:
        by_layer = arrays["delta_by_layer"]  # (N, L)
        result.delta_by_layer = {name: by_layer[:, i] for i, name in enumerate(lin.layer_names)}
        result.delta = sum((result.delta_by_layer[name] for name in counted), np.zeros(num, np.int64))
    return result


def _collect(pending, collected: dict, bar, fetch) -> None:
    outputs, size = pending
    for name, value in outputs.items():
        collected.setdefault(name, []).append(fetch(value)[:size])
    bar.update(size)


BACKENDS = ("jax", "torch")


def _choose_backend(backend: str | None, fn, zs) -> str:
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} or None; got {backend!r}")
        return backend
    torch = sys.modules.get("torch")  # torch is never imported just to check
    if getattr(fn, "geomlib_backend", None) == "torch":
        return "torch"
    if torch is not None and (isinstance(zs, torch.Tensor) or isinstance(fn, torch.nn.Module)):
        return "torch"
    return "jax"


@contextlib.contextmanager
def _tf32(backend: str, allowed: bool):
    """TF32 off for the computation unless ``allowed`` (the global setting restored after). With r = 1e-4
    on large latents a pre-activation moves by about 1e-5 of itself across the polytope, below TF32's
    rounding on recent GPUs, so delta would count rounding noise; psi and nu keep full float32 too."""
    torch = sys.modules.get("torch") if backend == "torch" else None
    if torch is None:
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _is_torch_module(fn) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(fn, torch.nn.Module)


def _as_batch(zs) -> np.ndarray:
    zs = np.asarray(zs)
    if zs.ndim < 2:
        raise ValueError(
            f"zs must have shape (N, *input_shape) with at least 2 dimensions; got shape {zs.shape}"
        )
    if len(zs) == 0:
        raise ValueError("zs is empty; pass at least one input")
    if not np.issubdtype(zs.dtype, np.floating):
        zs = zs.astype(np.float32)
    if not np.all(np.isfinite(zs)):
        raise ValueError("zs contains NaN or infinite values")
    return zs


def _check_descriptors(descriptors, has_aux: bool) -> tuple[str, ...]:
    if descriptors is None:
        return DESCRIPTORS if has_aux else ("psi", "nu")
    if isinstance(descriptors, str):
        descriptors = (descriptors,)
    wanted = tuple(descriptors)
    unknown = [name for name in wanted if name not in DESCRIPTORS]
    if unknown or not wanted:
        raise ValueError(f"descriptors must be a non-empty subset of {DESCRIPTORS}; got {wanted!r}")
    return wanted


def _check_layers(layers, available: list[str]) -> list[str]:
    if not available:
        raise ValueError("fn returned no pre-activations, so delta has nothing to count")
    if layers is None:
        return list(available)
    if isinstance(layers, str):
        layers = [layers]
    unknown = [name for name in layers if name not in available]
    if unknown or not layers:
        raise ValueError(f"layers must be a non-empty subset of {available}; got {list(layers)!r}")
    return list(layers)


def _settings(lin, backend, wanted, sketch, polytope, counted, want_delta, captured=False) -> dict:
    from .. import __version__

    framework = sys.modules[backend]
    settings = {
        "backend": backend,
        "descriptors": list(wanted),
        "n_in": lin.d,
        "n_out": lin.n,
        "dtype": str(np.dtype(lin.dtype)),
        "jacobian": lin.mode,
        "geomlib_version": __version__,
        f"{backend}_version": framework.__version__,
    }
    if lin.mode is not None:
        settings["rank_tol"] = lin.rank_tol
        settings["sketch"] = sketch.as_dict() if sketch is not None else None
    if want_delta:
        settings["polytope"] = polytope.as_dict()
        settings["layers"] = counted
        settings["all_layers"] = list(lin.layer_names)
        settings["neurons"] = dict(lin.neurons)  # pre-activation values per layer (every call counted)
        settings["preactivations"] = "captured" if captured else "has_aux"
    return settings
