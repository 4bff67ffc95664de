"""The pre-activations of any JAX function, found in its traced program: delta with no edits.

``capture_preactivations(fn)`` returns ``z, *args -> (fn(z, *args), {site:
pre-activation})``, the ``has_aux`` form ``local_geometry`` counts sign
changes in. It traces ``fn`` to a jaxpr and interprets it, recording the
input of every nonlinearity the program calls, each call its own site:

- ``jax.nn`` activations called by name (``jit`` calls named ``relu``,
  ``relu6``, ``silu``/``swish``, ``softplus``, ``leaky_relu``, ``elu``,
  ``celu``, ``selu``, ``mish``, ``gelu``, ``hard_tanh``, ...): their operand
  (what Flax's ``nn.relu`` etc. call too);
- the elementwise nonlinear primitives ``tanh``, ``logistic`` (sigmoid),
  ``erf`` and ``erfc``: their operand. ``jax.nn.gelu`` is inlined as
  ``tanh(c (x + 0.044715 x^3))`` (or ``erfc(-x / sqrt 2)``), whose operand has
  the sign of ``x``, so its sign changes are those of the GELU's input;
- ``max(x, 0)`` with a literal zero (a ReLU written as ``jnp.maximum``).

Not nonlinearities here: softmax, normalization, ``exp``/``log`` and the
like, whose input has no sign that switches a unit on or off. Loops
(``scan``, ``while``, ``cond``) are not entered: a network that scans over
its layers shows no sites inside the loop. Site names read
``<module path>/<activation>_<i>``: the Flax module path from the trace's
name stack, the activation, and a counter over calls at that path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

__all__ = ["NAMED_ACTIVATIONS", "PRIMITIVE_ACTIVATIONS", "capture_preactivations"]

# jax.nn functions that appear in a trace as a call (jit or custom_jvp) under their own name
NAMED_ACTIVATIONS = frozenset(
    {
        "relu",
        "relu6",
        "silu",
        "swish",
        "softplus",
        "leaky_relu",
        "elu",
        "celu",
        "selu",
        "mish",
        "gelu",
        "glu",
        "hard_tanh",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "log_sigmoid",
        "squareplus",
        "sparse_plus",
        "soft_sign",
    }
)
PRIMITIVE_ACTIVATIONS = frozenset({"tanh", "logistic", "erf", "erfc"})
# calls whose body is interpreted (values only: their outputs come from the original function)
_CALLS = frozenset(
    {"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat", "checkpoint"}
)
_BODY_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def _body(eqn):
    """``(jaxpr, consts)`` of a call equation's body, or None."""
    for key in _BODY_PARAMS:
        body = eqn.params.get(key)
        if isinstance(body, jcore.ClosedJaxpr):
            return body.jaxpr, body.consts
        if isinstance(body, jcore.Jaxpr):
            return body, ()
    return None


def _is_zero(var) -> bool:
    return isinstance(var, jcore.Literal) and jnp.ndim(var.val) == 0 and float(var.val) == 0.0


def _interpret(jaxpr, consts, args, record: Callable, path: str = "") -> list:
    """Evaluate ``jaxpr`` on ``args`` (tracers welcome), calling ``record(path, kind, value)`` at each site;
    ``path`` is the name stack of the call this body belongs to."""
    env = {}

    def read(var):
        return var.val if isinstance(var, jcore.Literal) else env[var]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        env[var] = value
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value
    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        here = "/".join(p for p in (path, str(eqn.source_info.name_stack)) if p)
        call_name = eqn.params.get("name")
        body = _body(eqn) if name in _CALLS else None
        if body is not None and call_name in NAMED_ACTIVATIONS:
            record(here, call_name, values[0])
            body = None  # one site for the whole activation, not its parts
        elif name in PRIMITIVE_ACTIVATIONS:
            record(here, name, values[0])
        elif name == "max" and len(values) == 2 and (_is_zero(eqn.invars[0]) or _is_zero(eqn.invars[1])):
            record(here, "relu", values[1] if _is_zero(eqn.invars[0]) else values[0])
        if body is not None:
            inner, inner_consts = body
            outs = _interpret(inner, inner_consts, values[len(values) - len(inner.invars) :], record, here)
        else:
            with eqn.ctx.manager:
                outs = eqn.primitive.bind(*values, **eqn.primitive.get_bind_params(eqn.params))
            outs = outs if eqn.primitive.multiple_results else [outs]
        for var, value in zip(eqn.outvars, outs, strict=True):
            env[var] = value
    return [read(v) for v in jaxpr.outvars]


@functools.lru_cache(maxsize=64)
def capture_preactivations(fn: Callable) -> Callable:
    """``z, *args -> (fn(z, *args), {site: pre-activation (flat)})`` for any JAX function (module docstring).

    The same ``fn`` gives the same wrapper object, so compiled computations keyed on it are reused.
    """

    def wrapped(z, *args):
        closed = jax.make_jaxpr(fn)(z, *args)
        sites: dict[str, jax.Array] = {}
        calls: dict[str, int] = {}

        def record(path, kind, value):
            stem = f"{path}/{kind}" if path else kind
            index = calls.get(stem, 0)
            calls[stem] = index + 1
            sites[f"{stem}_{index}"] = jnp.ravel(value)

        _interpret(closed.jaxpr, closed.consts, jax.tree_util.tree_leaves((z, *args)), record)
        if not sites:
            raise ValueError(
                "fn calls no nonlinearity that geomlib recognises (jax.nn activations, tanh, sigmoid, erf, "
                "max(x, 0)); for other layers return their inputs yourself with has_aux=True"
            )
        return fn(z, *args), sites

    return wrapped
