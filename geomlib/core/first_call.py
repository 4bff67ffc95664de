"""The first call of a reader's function, checked before any work: each common mistake gets one sentence
that names the fix, instead of an error from deep inside PyTorch or JAX.

``local_geometry`` calls ``fn`` once on one input to learn its output shape (the backends' probe). What
goes wrong there is almost always one of a few things a first-time user does; ``explain_output`` checks
what ``fn`` returned and ``explain_failure`` turns an exception of that first call into the sentence:

- a function that returns a tuple (``return y, h``) without ``has_aux=True``, or a wrong ``has_aux``;
- NumPy inputs given to a function around a PyTorch model: they take the JAX path, and the model meets
  a JAX tracer;
- half-precision inputs or weights (bfloat16, float16);
- a model with BatchNorm in training mode;
- a model that needs a batch axis (``fn`` maps ONE input, without one).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["HALF_PRECISION", "check_torch_inputs", "explain_failure", "explain_output"]

HALF_PRECISION = ("bfloat16", "float16")


def _describe(value) -> str:
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__module__}.{type(value).__name__}"


def explain_output(out, has_aux: bool, is_array: Callable[[object], bool]):
    """``(output, preactivations or None)`` from what ``fn`` returned, or a TypeError naming the fix."""
    if has_aux:
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise TypeError(
                f"with has_aux=True, fn must return (output, preactivations); it returned {_describe(out)}: "
                "pass has_aux=False for a function that returns its output only"
            )
        return out[0], out[1]
    if isinstance(out, tuple | list):
        raise TypeError(
            f"fn returned {_describe(out)}; local_geometry needs the output only: return it alone (e.g. "
            "lambda z: model(z)[0]), or pass has_aux=True when fn returns (output, {layer: preactivations})"
        )
    if not is_array(out):
        raise TypeError(f"fn must return an array (the generator's output); it returned {_describe(out)}")
    return out, None


def check_torch_inputs(fn, zs) -> None:
    """Refuse, before any work, what the torch backend cannot differentiate as given."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if isinstance(zs, torch.Tensor) and str(zs.dtype).removeprefix("torch.") in HALF_PRECISION:
        raise TypeError(
            f"zs is {zs.dtype}: pass zs.float() (the descriptors need float32 or float64 Jacobians; a "
            "half-precision model can cast inside fn, e.g. lambda z: model(z.to(torch.bfloat16)).float())"
        )
    if isinstance(fn, torch.nn.Module) and fn.training:
        norms = [
            name for name, m in fn.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]
        if norms:
            raise ValueError(
                f"fn has BatchNorm layers in training mode ({norms[0]!r}): call model.eval() first, so each "
                "input's output does not depend on the others and running statistics stay as trained"
            )


def explain_failure(error: Exception, fn, probe_input, backend: str) -> Exception | None:
    """The one-sentence error for an exception of ``fn``'s first call, or None when it is not one of the
    common mistakes (the original error is then raised as it is). ``probe_input``: the one input it was
    called with, to try whether the model wanted a batch axis."""
    text = f"{type(error).__name__}: {error}"
    if backend == "jax" and ("Tracer" in text and ("Tensor" in text or "torch" in text)):
        return TypeError(
            "fn calls a PyTorch model, but the NumPy inputs took the JAX path: pass zs as a torch tensor "
            "(torch.from_numpy(zs)) or backend='torch'"
        )
    if "BFloat16" in text or "Half" in text or ("dtype" in text and "same" in text):
        return TypeError(
            "fn computes in half precision (bfloat16 or float16 weights against float32 inputs): call "
            "model.float(), or cast inside fn (lambda z: model(z.to(torch.bfloat16)).float())"
        )
    if _batchnorm_training(text):
        return ValueError("fn runs a BatchNorm in training mode: call model.eval() first")
    if backend == "torch":
        batched = _error_with_a_batch_axis(fn, probe_input)
        if batched is None:
            shape = tuple(probe_input.shape)
            return ValueError(
                f"fn is called on ONE input of shape {shape}, without a batch axis, and fails; it works on "
                "(1, *shape): pass lambda z: model(z[None])[0]"
            )
        if _batchnorm_training(f"{batched}"):  # it wants a batch axis and runs BatchNorm in training mode
            return ValueError(
                "fn runs a BatchNorm in training mode and needs a batch axis: call model.eval() first and "
                "pass lambda z: model(z[None])[0]"
            )
    return None


def _batchnorm_training(text: str) -> bool:
    return "running_mean" in text or "more than 1 value per channel" in text


def _error_with_a_batch_axis(fn, probe_input) -> Exception | None:
    """The error of ``fn`` on ``probe_input`` with a batch axis of one, or None when that call works."""
    torch = sys.modules.get("torch")
    try:
        with torch.no_grad():
            fn(probe_input[None])
    except Exception as error:  # noqa: BLE001 - reported only through the sentence it selects
        return error
    return None
