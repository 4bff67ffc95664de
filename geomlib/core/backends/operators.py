"""The Jacobian of a one-input map as linear operators: ``J``, ``J V`` and ``J^T Y`` at a point.

``local_geometry`` needs only singular values and pre-activations; the
editing methods (LOCO Edit's subspace iteration, the watermark's null space)
need the Jacobian itself and its products with many vectors. One place builds
them for either backend, so a study asks a generator for its map and never
re-derives forward- or reverse-mode code::

    ops = linear_operators(model.analysed_map("x0", timestep=600), model.input_shape, has_aux=True)
    ops.jvp(x, V)  # (m, k) for V of shape (d, k)

Inputs and outputs are flattened float64 NumPy arrays (``x``: ``(d,)``);
the map itself runs in float32 on its own device. JAX maps given as a
:class:`~geomlib.core.local_geometry.BoundMap` keep their arguments traced, so
one compilation serves every timestep.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LinearOperators", "linear_operators"]


@dataclass(frozen=True)
class LinearOperators:
    """``jacobian(x) -> (m, d)``, ``jvp(x, V (d, k)) -> (m, k)``, ``vjp(x, Y (m, k)) -> (d, k)``."""

    jacobian: Callable[[np.ndarray], np.ndarray]
    jvp: Callable[[np.ndarray, np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray]


def linear_operators(fn: Callable, in_shape: tuple[int, ...], *, has_aux: bool = False) -> LinearOperators:
    """The linear operators of ``fn`` (one input of shape ``in_shape``; with ``has_aux`` it returns
    ``(output, preactivations)`` and only the output counts)."""
    from ..local_geometry import BoundMap, _choose_backend

    in_shape = tuple(int(s) for s in in_shape)
    if _choose_backend(None, fn, None) == "torch":
        return _torch_operators(fn, in_shape, has_aux)
    inner, args = (fn.fn, fn.args) if isinstance(fn, BoundMap) else (fn, ())
    jacobian, jvp, vjp = _jax_compiled(inner, in_shape, has_aux)

    def run(compiled, *arrays):
        import jax.numpy as jnp

        inputs = [jnp.asarray(np.asarray(a, np.float32)) for a in arrays]
        return np.asarray(compiled(*inputs, args), np.float64)

    return LinearOperators(
        jacobian=functools.partial(run, jacobian),
        jvp=functools.partial(run, jvp),
        vjp=functools.partial(run, vjp),
    )


@functools.lru_cache(maxsize=32)
def _jax_compiled(fn: Callable, in_shape: tuple[int, ...], has_aux: bool):
    import jax

    def flat(x, args):
        out = fn(x.reshape(in_shape), *args)
        return (out[0] if has_aux else out).reshape(-1)

    jacobian = jax.jit(lambda x, args: jax.jacfwd(flat)(x, args))

    @jax.jit
    def jvp(x, vectors, args):
        push = jax.vmap(lambda v: jax.jvp(lambda y: flat(y, args), (x,), (v,))[1], in_axes=1, out_axes=1)
        return push(vectors)

    @jax.jit
    def vjp(x, covectors, args):
        _, pull = jax.vjp(lambda y: flat(y, args), x)
        return jax.vmap(lambda y: pull(y)[0], in_axes=1, out_axes=1)(covectors)

    return jacobian, jvp, vjp


def _torch_operators(fn: Callable, in_shape: tuple[int, ...], has_aux: bool) -> LinearOperators:
    import torch

    device = getattr(fn, "geomlib_device", None)
    dim = math.prod(in_shape)

    def flat(x):
        out = fn(x)
        return (out[0] if has_aux else out).reshape(-1)

    def point(x):
        return torch.as_tensor(np.asarray(x, np.float32), device=device).reshape(in_shape)

    def columns(values, shape):  # (rows, k) NumPy -> k tensors of ``shape``
        return torch.as_tensor(np.asarray(values, np.float32).T.copy(), device=device).reshape(-1, *shape)

    def as_numpy(tensor, rows):
        return tensor.reshape(-1, rows).T.detach().cpu().numpy().astype(np.float64)

    def jacobian(x):
        matrix = torch.func.jacrev(flat)(point(x))
        return matrix.reshape(-1, dim).detach().cpu().numpy().astype(np.float64)

    def jvp(x, vectors):
        z = point(x)
        out = torch.func.vmap(lambda v: torch.func.jvp(flat, (z,), (v,))[1])(columns(vectors, in_shape))
        return as_numpy(out, out.shape[-1])

    def vjp(x, covectors):
        output, pull = torch.func.vjp(flat, point(x))
        out = torch.func.vmap(lambda y: pull(y)[0])(columns(covectors, output.shape))
        return as_numpy(out, dim)

    return LinearOperators(jacobian=jacobian, jvp=jvp, vjp=vjp)
