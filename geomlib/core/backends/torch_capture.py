"""The pre-activations of any PyTorch function, seen where it calls them: delta with no edits.

``capture_preactivations(fn)`` returns ``z, *args -> (fn(z, *args), {site:
pre-activation})``, the ``has_aux`` form ``local_geometry`` counts sign
changes in. While ``fn`` runs, a ``TorchFunctionMode`` records the input of
every activation *function* call: ``torch.nn.functional`` ``relu``,
``relu6``, ``leaky_relu``, ``elu``, ``celu``, ``selu``, ``gelu``, ``silu``,
``mish``, ``softplus``, ``hardtanh``, ``hardswish``, ``hardsigmoid``,
``logsigmoid``, ``tanh`` and ``sigmoid``; ``torch.relu``, ``torch.tanh``,
``torch.sigmoid`` and the tensor methods of the same names (in-place forms
included). Activation *modules* (``nn.ReLU``, ``nn.SiLU``, ...) call these
functions, so they are seen too, each call once: nothing needs a hook or an
edit, and an activation called several times contributes every call.
It works under ``torch.func.vmap`` (the mode sees the batched tensors).

Not nonlinearities here: softmax, normalization, ``exp``/``log``. Site names
read ``<module path>.<function>_<i>``: the path of the innermost module
running, as ``named_modules`` of the outermost module called names it
(``transformer_blocks.0.ff.net.0.gelu_0``; no path for a call outside any
module or in the outermost one), the function, and a counter over calls at
that path.
The module-hook path (``torch_with_preactivations``) stays for diffusers'
gated activations, where the pre-activation is part of a projection.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["ACTIVATION_FUNCTIONS", "capture_preactivations"]


def _activation_functions() -> dict:
    names = {
        F: (
            "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "celu", "celu_", "selu",
            "selu_", "gelu", "silu", "mish", "softplus", "hardtanh", "hardtanh_", "hardswish",
            "hardsigmoid", "logsigmoid", "tanh", "sigmoid",
        ),
        torch: ("relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "selu", "celu"),
        torch.Tensor: ("relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_"),
    }  # fmt: skip
    found = {}
    for owner, functions in names.items():
        for name in functions:
            function = getattr(owner, name, None)
            if function is not None:
                found[function] = name.rstrip("_")
    return found


ACTIVATION_FUNCTIONS = _activation_functions()  # function -> the name its sites carry


class _Recorder(TorchFunctionMode):
    """Records the input of each activation call; the mode is off inside a call, so the functions an
    activation calls in turn (``relu6`` -> ``hardtanh``) are not counted twice."""

    def __init__(self, path: Callable[[], str]):
        super().__init__()
        self.path, self.sites, self.calls = path, {}, {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = ACTIVATION_FUNCTIONS.get(func)
        if kind is not None:
            x = args[0] if args else kwargs["input"]
            where = self.path()
            stem = f"{where}.{kind}" if where else kind
            index = self.calls.get(stem, 0)
            self.calls[stem] = index + 1
            self.sites[f"{stem}_{index}"] = x.detach().clone().reshape(-1)  # before an in-place call
        return func(*args, **kwargs)


def capture_preactivations(fn: Callable) -> Callable:
    """``z, *args -> (fn(z, *args), {site: pre-activation (flat)})`` for any PyTorch function."""
    names: dict[int, str] = {}  # module -> its path under the outermost module the call runs

    def wrapped(z, *args):
        stack: list[str] = []

        def enter(module, _inputs):
            if id(module) not in names:  # an outermost module: name its submodules after it
                names.update((id(m), name) for name, m in module.named_modules())
            stack.append(names[id(module)])

        def leave(module, _inputs, _output):
            stack.pop()

        handles = [
            nn.modules.module.register_module_forward_pre_hook(enter),
            nn.modules.module.register_module_forward_hook(leave),
        ]
        recorder = _Recorder(lambda: stack[-1] if stack else "")
        try:
            with recorder:
                out = fn(z, *args)
        finally:
            for handle in handles:
                handle.remove()
        if not recorder.sites:
            raise ValueError(
                "fn calls no activation function that geomlib recognises (torch.nn.functional activations, "
                "torch.relu/tanh/sigmoid, or modules calling them); for other layers return their inputs "
                "yourself with has_aux=True"
            )
        return out, recorder.sites

    wrapped.geomlib_backend = "torch"
    wrapped.geomlib_device = getattr(fn, "geomlib_device", None)
    if isinstance(fn, nn.Module):
        parameter = next(fn.parameters(), None)
        wrapped.geomlib_device = None if parameter is None else parameter.device
    return wrapped
