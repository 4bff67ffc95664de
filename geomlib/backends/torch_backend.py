"""PyTorch backend: linearize a torch function and capture its pre-activations.

The same contract as the JAX backend: ``fn`` maps **one** input to an output
(or to ``(output, {layer: pre-activation})`` with ``has_aux``) and the backend
batches it with ``torch.func.vmap``:

- the sketch ``W A`` as k vector-Jacobian products: each input repeated once
  per row of W, one batched forward pass and one backward pass with the rows
  as cotangents (in blocks of ``row_chunk`` rows). Nesting ``torch.func.vjp``
  inside ``vmap`` instead ran out of memory on an H100 for a DiT-XL/2-sized
  model where this plain autograd form stays at the cost of k VJPs;
- the exact Jacobian the same way, with the rows of the identity (n VJPs).
  Forward mode would be cheaper when d < n, but ``torch.func.jvp`` fails on
  the CPU SDPA attention kernel that diffusers models use, so reverse mode is
  the one path that always works;
- singular values with ``torch.linalg.svdvals`` and psi, nu, delta from
  ``geomlib.descriptors`` (the same code as the JAX backend);
- pre-activations from forward hooks (:func:`torch_with_preactivations`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .. import descriptors
from ..directions import Polytope, Sketch

__all__ = ["TorchLinearization", "preactivation_sites", "torch_with_preactivations", "use_math_attention"]


def use_math_attention(module: nn.Module) -> nn.Module:
    """Give every diffusers ``Attention`` in ``module`` the plain-matmul ``AttnProcessor``.

    ``torch.func.vmap`` has no batching rule for PyTorch's fused
    scaled-dot-product attention kernels, so under vmap it would loop over
    examples one by one; ``AttnProcessor`` computes the same attention with
    batched matmuls and a softmax. Returns ``module``.
    """
    from diffusers.models.attention_processor import Attention, AttnProcessor

    for sub in module.modules():
        if isinstance(sub, Attention):
            sub.set_processor(AttnProcessor())
    return module


def preactivation_sites(module: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Where each nonlinearity's input can be read: ``{name: (module to hook, how)}``.

    - ``torch.nn`` activations (ReLU, GELU, SiLU, ...): the module's input.
    - diffusers ``GELU`` and ``ApproximateGELU`` apply their own linear layer
      first: the output of that ``proj`` is the pre-activation, not the
      module's input.
    - diffusers ``GEGLU`` / ``SwiGLU``: the gate, the second half of ``proj``'s output.

    Activations applied as functions (``F.silu(x)``) have no module and are not seen.
    """
    plain = (nn.ReLU, nn.GELU, nn.SiLU, nn.Mish, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Tanh, nn.Sigmoid)
    sites: dict[str, tuple[nn.Module, str]] = {}
    for name, sub in module.named_modules():
        kind = type(sub).__name__
        if kind in ("GELU", "ApproximateGELU") and isinstance(getattr(sub, "proj", None), nn.Linear):
            sites[name] = (sub.proj, "output")
        elif kind in ("GEGLU", "SwiGLU") and isinstance(getattr(sub, "proj", None), nn.Linear):
            sites[name] = (sub.proj, "gate")
        elif isinstance(sub, plain) and not any(name.startswith(f"{other}.") for other in sites):
            sites[name] = (sub, "input")
    return sites


def torch_with_preactivations(fn: Callable, module: nn.Module, layers: list[str] | None = None) -> Callable:
    """Wrap ``fn`` (one input -> output, running ``module``) to return ``(output, {layer: pre-activation})``.

    Forward hooks on the sites of :func:`preactivation_sites` record the
    pre-activations of this call and the wrapper returns them, so it works
    under ``torch.func.vmap`` and ``vjp`` (nothing is stored outside the call).
    layers: restrict to these site names (default: all).
    """
    sites = preactivation_sites(module)
    if layers is not None:
        unknown = sorted(set(layers) - set(sites))
        if unknown:
            raise ValueError(
                f"layers {unknown} are not activation sites of the module; sites: {sorted(sites)}"
            )
        sites = {name: sites[name] for name in layers}
    if not sites:
        raise ValueError("the module has no activation modules to hook (functional activations are not seen)")

    def wrapped(z):
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for name, (target, how) in sites.items():
            if how == "input":
                handles.append(
                    target.register_forward_pre_hook(
                        lambda _m, args, name=name: captured.__setitem__(name, args[0])
                    )
                )
            elif how == "output":
                handles.append(
                    target.register_forward_hook(
                        lambda _m, _a, out, name=name: captured.__setitem__(name, out)
                    )
                )
            else:  # the gate half of a gated linear unit
                handles.append(
                    target.register_forward_hook(
                        lambda _m, _a, out, name=name: captured.__setitem__(name, out.chunk(2, dim=-1)[1])
                    )
                )
        try:
            y = fn(z)
        finally:
            for handle in handles:
                handle.remove()
        return y, captured

    wrapped.geomlib_backend = "torch"
    return wrapped


class TorchLinearization:
    """Per-chunk singular values and sign-change counts for a torch function (see the module docstring)."""

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
        device=None,
        row_chunk: int | None = None,
        fn_args: tuple = (),
    ):
        self.in_shape = tuple(in_shape)
        self.d = math.prod(self.in_shape)
        self.dtype = np.dtype(dtype)  # float32 unless the inputs are float64
        self.tdtype = torch.float64 if self.dtype == np.float64 else torch.float32
        self.device = torch.device(device or "cpu")
        self.has_aux = has_aux
        self.fn = lambda z: fn(z, *fn_args)
        self.row_chunk = row_chunk
        with torch.no_grad():
            probe = self.fn(torch.zeros(self.in_shape, dtype=self.tdtype, device=self.device))
        y, aux = probe if has_aux else (probe, None)
        self.n = int(y.numel())
        self.layer_names: tuple[str, ...] = ()
        self.num_neurons = 0
        if has_aux:
            if not isinstance(aux, dict) or not all(isinstance(v, torch.Tensor) for v in aux.values()):
                raise TypeError(
                    "with has_aux=True, fn must return (output, preactivations) where preactivations is a "
                    "flat dict {layer name: tensor}; geomlib.torch_with_preactivations builds one with hooks"
                )
            self.layer_names = tuple(aux)
            self.num_neurons = sum(v.numel() for v in aux.values())

        self.mode, self.rank_tol, self.num_sigma, self._W = None, None, 0, None
        if want_sigma:
            if sketch is not None:
                self.mode = "sketch"
                self._W = torch.as_tensor(
                    sketch.matrix(self.n, np.float64), dtype=self.tdtype, device=self.device
                )
                rows = sketch.k
            else:
                self.mode = "exact-jacrev"
                rows = self.n
            self.num_sigma = min(rows, self.d)
            self.rank_tol = (
                descriptors.default_rank_tol((rows, self.d), self.dtype)
                if rank_tol is None
                else float(rank_tol)
            )
        self._offsets = None
        if polytope is not None:
            offsets = polytope.offsets(self.d, np.float64)
            self._offsets = torch.as_tensor(offsets, dtype=self.tdtype, device=self.device)

    def _output(self, z_flat):
        out = self.fn(z_flat.reshape(self.in_shape))
        y = out[0] if self.has_aux else out
        return y.reshape(-1)

    def _preacts(self, z_flat):
        return self.fn(z_flat.reshape(self.in_shape))[1]

    def _pullback_rows(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, rows, d)``: the rows of W (sketch) or of the identity (exact) pulled back through each input.

        Each input is repeated once per row and the batch goes through one
        forward pass (``vmap`` of the one-input ``fn``) and one backward pass
        with the rows as cotangents: k plain vector-Jacobian products per
        input, in blocks of ``row_chunk`` rows to bound memory.
        """
        rows = self._W if self.mode == "sketch" else torch.eye(self.n, dtype=self.tdtype, device=self.device)
        block = self.row_chunk or len(rows)
        parts = []
        for start in range(0, len(rows), block):
            cotangents = rows[start : start + block]
            x = z.detach().repeat_interleave(len(cotangents), dim=0).requires_grad_(True)  # (B * r, d)
            with torch.enable_grad():
                y = torch.func.vmap(self._output)(x)  # (B * r, n)
                (grad,) = torch.autograd.grad(y, x, grad_outputs=cotangents.repeat(len(z), 1))
            parts.append(grad.reshape(len(z), len(cotangents), self.d))
        return torch.cat(parts, dim=1)

    def __call__(self, z_chunk: np.ndarray) -> dict[str, torch.Tensor]:
        z = torch.as_tensor(np.ascontiguousarray(z_chunk), dtype=self.tdtype, device=self.device)
        out: dict[str, torch.Tensor] = {}
        if self.mode is not None:
            sigma = singular_values(self._pullback_rows(z))  # from (B, rows, d)
            out["sigma"] = sigma
            out["psi"] = descriptors.local_scaling(sigma, self.rank_tol)
            out["nu"] = descriptors.local_rank(sigma, self.rank_tol)
            out["rank"] = descriptors.numerical_rank(sigma, self.rank_tol)
        if self._offsets is not None:
            with torch.no_grad():
                vertices = z[:, None, :] + self._offsets[None]  # (B, V, d)
                preacts = torch.func.vmap(torch.func.vmap(self._preacts))(vertices)  # name -> (B, V, ...)
                counts = [
                    descriptors.local_complexity(
                        preacts[name].reshape(*vertices.shape[:2], -1).transpose(0, 1)
                    )
                    for name in self.layer_names
                ]
            out["delta_by_layer"] = torch.stack(counts, dim=-1)  # (B, L)
        return out

    @staticmethod
    def fetch(value) -> np.ndarray:
        return value.detach().cpu().numpy()


def singular_values(matrices: torch.Tensor) -> torch.Tensor:
    """Singular values of a batch ``(B, rows, cols)``, after a QR of a tall or wide matrix."""
    rows, cols = matrices.shape[-2:]
    if rows >= 2 * cols:
        matrices = torch.linalg.qr(matrices, mode="r")[1]
    elif cols >= 2 * rows:
        matrices = torch.linalg.qr(matrices.transpose(-2, -1), mode="r")[1]
    return torch.linalg.svdvals(matrices)
