"""JAX backend: linearize a JAX function and capture its pre-activations.

Everything for one chunk of inputs runs in a single ``jit(vmap(...))``:

- exact Jacobian with ``jacfwd`` (``d <= n``) or ``jacrev`` (``d > n``), or the
  sketch ``W A`` as ``k`` vector-Jacobian products (``vmap`` over the rows of W;
  ``W`` times the ``jacfwd`` Jacobian when ``k > d``, fewer passes);
- singular values (``jnp.linalg.svd``, after a QR of a tall or wide matrix) and psi, nu, rank from
  ``geomlib.core.descriptors``;
- the pre-activations at every polytope vertex (the function's auxiliary
  output) and their per-layer sign-change counts.

Only the small per-input results leave the device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import descriptors
from ..directions import Polytope, Sketch
from ..first_call import explain_failure, explain_output

__all__ = ["JaxLinearization", "flax_with_preactivations"]


class JaxLinearization:
    """Compiled per-chunk computation of singular values and sign-change counts.

    fn: maps one input of shape ``in_shape`` to an output array, or to
        ``(output, preactivations)`` when ``has_aux``; preactivations is a flat
        dict ``layer name -> array`` (any shape; each entry is one neuron).
    sketch: use ``W A`` instead of the exact Jacobian; polytope: count sign
        changes over its vertices (None: skip delta).

    ``W``, the vertex offsets and ``fn_args`` (extra arguments of ``fn``, the
    same for every input) are arguments of the compiled function, not
    constants in it, so calls that differ only in them (seeds, parameters, a
    timestep) reuse one compilation.
    """

    def __init__(
        self,
        fn: Callable,
        in_shape: tuple[int, ...],
        dtype,
        *,
        has_aux: bool,
        sketch: Sketch | None,
        polytope: Polytope | None,
        rank_tol: float | None,
        want_sigma: bool,
        fn_args: tuple = (),
    ):
        self.in_shape = tuple(in_shape)
        self.fn_args = fn_args
        self.d = math.prod(self.in_shape)
        self.dtype = jnp.dtype(dtype)
        flat_fn = _flatten(fn, self.in_shape, has_aux)
        try:
            y_shape, aux_shapes = jax.eval_shape(
                flat_fn, jax.ShapeDtypeStruct((self.d,), self.dtype), *fn_args
            )
        except Exception as error:  # the common first-call mistakes get their one-sentence fix
            better = explain_failure(error, fn, None, "jax")
            if better is None:
                raise
            raise better from error
        self.n = y_shape.shape[0]
        self.layer_names: tuple[str, ...] = ()
        self.neurons: dict[str, int] = {}
        self.num_neurons = 0
        if has_aux:
            if not isinstance(aux_shapes, dict) or not all(
                isinstance(k, str) and hasattr(v, "shape") for k, v in aux_shapes.items()
            ):
                raise TypeError(
                    "with has_aux=True, fn must return (output, preactivations) where "
                    "preactivations is a flat dict {layer name: array}; "
                    "geomlib.flax_with_preactivations builds one from a Flax module"
                )
            self.layer_names = tuple(aux_shapes)
            self.neurons = {name: math.prod(shape.shape) for name, shape in aux_shapes.items()}
            self.num_neurons = sum(self.neurons.values())

        self.mode, self.rank_tol, self.num_sigma = None, None, 0
        self._W = None
        if want_sigma:
            if sketch is not None:
                self.mode = "sketch"
                self._W = jnp.asarray(sketch.matrix(self.n, self.dtype))
                rows = sketch.k
            else:
                self.mode = "exact-jacfwd" if self.d <= self.n else "exact-jacrev"
                rows = self.n
            self.num_sigma = min(rows, self.d)
            self.rank_tol = (
                descriptors.default_rank_tol((rows, self.d), self.dtype)
                if rank_tol is None
                else float(rank_tol)
            )
        self._offsets = None
        if polytope is not None:
            self._offsets = jnp.asarray(polytope.offsets(self.d, self.dtype))
        self.run = _compiled(
            fn, self.in_shape, has_aux, self.mode, self.rank_tol, self.layer_names, polytope is not None
        )

    def __call__(self, z_chunk: np.ndarray):
        """Dispatch one chunk ``(B, d)``; returns device arrays (see ``fetch``)."""
        return self.run(jnp.asarray(z_chunk, self.dtype), self._W, self._offsets, self.fn_args)

    @staticmethod
    def fetch(value) -> np.ndarray:
        return np.asarray(value)


def _is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _flatten(fn: Callable, in_shape: tuple[int, ...], has_aux: bool) -> Callable:
    """``z_flat (d,) -> (y_flat (n,), preactivations or None)``."""

    def flat_fn(z_flat, *args):
        out = fn(z_flat.reshape(in_shape), *args)
        y, aux = explain_output(
            out, has_aux, lambda value: hasattr(value, "shape") and hasattr(value, "dtype")
        )
        return jnp.reshape(y, (-1,)), aux

    return flat_fn


def singular_values(matrix):
    """Singular values, descending; a tall or wide matrix is first reduced to its square QR factor.

    ``A = QR`` with orthonormal ``Q`` has the singular values of ``R``; Householder QR
    is backward stable and far cheaper than an SVD of the long side.
    """
    rows, cols = matrix.shape
    if rows >= 2 * cols:
        matrix = jnp.linalg.qr(matrix, mode="r")
    elif cols >= 2 * rows:
        matrix = jnp.linalg.qr(matrix.T, mode="r")
    return jnp.linalg.svd(matrix, compute_uv=False)


@functools.lru_cache(maxsize=64)
def _compiled(fn, in_shape, has_aux, mode, rank_tol, layer_names, want_delta):
    """``jit(vmap(single))`` for one generator and one set of static settings."""
    flat_fn = _flatten(fn, in_shape, has_aux)

    def output(z, args):
        return flat_fn(z, *args)[0]

    def jacobian(z, W, args):
        """``(n, d)`` exact Jacobian, or ``(k, d)`` sketch ``W A``: k vector-Jacobian products, or, when
        the sketch has more rows than the input has dimensions, ``W`` times the Jacobian from d
        Jacobian-vector products (the same matrix for fewer passes through the network)."""
        if mode == "sketch" and W.shape[0] > z.shape[0]:
            return W @ jax.jacfwd(output)(z, args)
        if mode == "sketch":
            _, pullback = jax.vjp(lambda x: output(x, args), z)
            return jax.vmap(pullback)(W)[0]
        if mode == "exact-jacfwd":
            return jax.jacfwd(output)(z, args)
        return jax.jacrev(output)(z, args)

    def single(z, W, offsets, args):
        out = {}
        if mode is not None:
            sigma = singular_values(jacobian(z, W, args))
            out["sigma"] = sigma
            out["psi"] = descriptors.local_scaling(sigma, rank_tol)
            out["nu"] = descriptors.local_rank(sigma, rank_tol)
            out["rank"] = descriptors.numerical_rank(sigma, rank_tol)
        if want_delta:
            vertices = z[None, :] + offsets  # (V, d)
            preacts = jax.vmap(lambda v: flat_fn(v, *args)[1])(vertices)  # name -> (V, ...)
            counts = [
                descriptors.local_complexity(jnp.reshape(preacts[name], (len(vertices), -1)))
                for name in layer_names
            ]
            out["delta_by_layer"] = jnp.stack(counts)  # (L,)
        return out

    return jax.jit(jax.vmap(single, in_axes=(0, None, None, None)))


def flax_with_preactivations(
    apply_fn: Callable, variables, *args, collection: str = "preactivations", **kwargs
) -> Callable:
    """Wrap a Flax ``apply`` so ``z -> (output, {layer: pre-activation})``.

    The module records the input of each nonlinearity with
    ``self.sow("preactivations", name, h)``; ``args``/``kwargs`` are passed
    after ``z`` (e.g. the timestep of a denoiser).
    """
    from flax import linen
    from flax.traverse_util import flatten_dict

    if isinstance(apply_fn, linen.Module):
        raise TypeError(
            "apply_fn must be the module's apply (e.g. model.apply), not the module itself; "
            "or pass a plain function to local_geometry, which finds the activations without sow"
        )
    # Values sown during init would be returned (and appended to) as if they were this call's.
    variables = {name: value for name, value in variables.items() if name != collection}

    def fn(z):
        y, state = apply_fn(variables, z, *args, mutable=[collection], **kwargs)
        sown = flatten_dict(state.get(collection, {}), sep="/")
        preacts = {name: jnp.concatenate([jnp.ravel(v) for v in values]) for name, values in sown.items()}
        return y, preacts

    return fn
