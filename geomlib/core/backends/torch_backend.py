"""PyTorch backend: linearize a torch function and capture its pre-activations.

The same contract as the JAX backend: ``fn`` maps **one** input to an output
(or to ``(output, {layer: pre-activation})`` with ``has_aux``) and the backend
batches it with ``torch.func.vmap``:

- the sketch ``W A`` as k vector-Jacobian products sharing one linearization:
  one forward pass per chunk of inputs, then the rows of W pulled back as a
  batch of cotangents (``autograd.grad(..., is_grads_batched=True)``), in
  blocks of ``row_chunk`` rows to bound memory. That is one forward and k
  backward passes per input, not k of each;
- the exact Jacobian with forward mode when it has fewer columns than rows
  (``d < n``: d Jacobian-vector products, in blocks of ``row_chunk``
  columns), else with the rows of the identity as cotangents (n VJPs).
  ``torch.func.jvp`` fails on PyTorch's fused SDPA attention kernels; the
  backend then falls back to reverse mode (``use_math_attention`` avoids it)
  and says which mode it used in ``settings["jacobian"]``;
- singular values with ``torch.linalg.svdvals`` and psi, nu, delta from
  ``geomlib.core.descriptors`` (the same code as the JAX backend);
- pre-activations from forward hooks (:func:`torch_with_preactivations`):
  every call of an activation module counts, each call's values
  concatenated under the module's name, as the JAX side concatenates the
  values a Flax module sows twice under one name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .. import descriptors
from ..directions import Polytope, Sketch
from ..first_call import explain_failure, explain_output

__all__ = [
    "TorchLinearization",
    "math_sdpa",
    "preactivation_sites",
    "torch_with_preactivations",
    "use_math_attention",
]


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


def math_sdpa(fn):
    """``fn`` with scaled-dot-product attention on PyTorch's math kernel during each call, restored after.

    The alternative to ``use_math_attention`` for a pretrained model: its attention processors (and
    fused kernels) stay as they are for sampling, where the plain processor would materialise every
    attention score (SD 1.x at 64 x 64 latents, batch 64 with guidance: about 128 GiB), and only the
    descriptor maps, which ``torch.func`` batches and differentiates, run on the math kernel.
    """
    import functools

    from torch.nn.attention import SDPBackend, sdpa_kernel

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with sdpa_kernel(SDPBackend.MATH):
            return fn(*args, **kwargs)

    return wrapped


def preactivation_sites(module: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Where each nonlinearity's input can be read: ``{name: (module to hook, how)}``.

    - ``torch.nn`` activations (ReLU, GELU, SiLU, ...) and diffusers'
      ``FP32SiLU``: the module's input.
    - diffusers ``GELU`` and ``ApproximateGELU`` apply their own linear layer
      first: the output of that ``proj`` is the pre-activation, not the
      module's input.
    - diffusers ``GEGLU`` / ``SwiGLU``: the gate, the second half of ``proj``'s output.

    A module called several times in one forward pass (diffusers'
    ``ResnetBlock2D`` calls ``self.nonlinearity`` after each norm, and on the
    time embedding) contributes every call.

    Not seen: activations applied as functions (``F.silu(x)``), which have no
    module (``local_geometry`` on the plain function sees them too:
    ``geomlib.core.backends.torch_capture``). In the diffusers models this project uses, the only one is
    ``DiTTransformer2DModel``'s ``F.silu`` on the timestep-and-class
    conditioning before its output projection; that input does not depend on
    the latent, so its neurons never change sign over a polytope around it and
    delta is the same with or without them (they are left out of the neuron
    counts). ``AutoencoderKL`` and ``UNet2DConditionModel`` (SiLU modules,
    ``GEGLU``) are seen in full.
    """
    plain = (nn.ReLU, nn.GELU, nn.SiLU, nn.Mish, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Tanh, nn.Sigmoid)
    sites: dict[str, tuple[nn.Module, str]] = {}
    for name, sub in module.named_modules():
        kind = type(sub).__name__
        if kind in ("GELU", "ApproximateGELU") and isinstance(getattr(sub, "proj", None), nn.Linear):
            sites[name] = (sub.proj, "output")
        elif kind in ("GEGLU", "SwiGLU") and isinstance(getattr(sub, "proj", None), nn.Linear):
            sites[name] = (sub.proj, "gate")
        elif (isinstance(sub, plain) or kind == "FP32SiLU") and not any(
            name.startswith(f"{other}.") for other in sites
        ):
            sites[name] = (sub, "input")
    return sites


def torch_with_preactivations(fn: Callable, module: nn.Module, layers: list[str] | None = None) -> Callable:
    """Wrap ``fn`` (one input -> output, running ``module``) to return ``(output, {layer: pre-activation})``.

    Forward hooks on the sites of :func:`preactivation_sites` record the
    pre-activations of this call and the wrapper returns them, so it works
    under ``torch.func.vmap`` and ``vjp`` (nothing is stored outside the call).
    A site called several times gives the flattened values of every call,
    concatenated in call order (one entry per site, as on the JAX side).
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
        calls: dict[str, list[torch.Tensor]] = {name: [] for name in sites}
        handles = []
        for name, (target, how) in sites.items():
            if how == "input":
                handles.append(
                    target.register_forward_pre_hook(lambda _m, args, name=name: calls[name].append(args[0]))
                )
            elif how == "output":
                handles.append(
                    target.register_forward_hook(lambda _m, _a, out, name=name: calls[name].append(out))
                )
            else:  # the gate half of a gated linear unit
                handles.append(
                    target.register_forward_hook(
                        lambda _m, _a, out, name=name: calls[name].append(out.chunk(2, dim=-1)[1])
                    )
                )
        try:
            y = fn(z)
        finally:
            for handle in handles:
                handle.remove()
        captured = {
            name: values[0] if len(values) == 1 else torch.cat([v.reshape(-1) for v in values])
            for name, values in calls.items()
            if values
        }
        return y, captured

    wrapped.geomlib_backend = "torch"
    wrapped.geomlib_device = _device_of(module)  # where local_geometry puts NumPy inputs
    return wrapped


def _device_of(module: nn.Module) -> torch.device | None:
    parameter = next(module.parameters(), None)
    return None if parameter is None else parameter.device


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
        vertex_chunk: int | None = None,
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
        self.vertex_chunk = vertex_chunk
        zero = torch.zeros(self.in_shape, dtype=self.tdtype, device=self.device)
        with torch.no_grad():
            try:
                probe = self.fn(zero)
            except Exception as error:  # the common first-call mistakes get their one-sentence fix
                better = explain_failure(error, self.fn, zero, "torch")
                if better is None:
                    raise
                raise better from error
        y, aux = explain_output(probe, has_aux, lambda value: isinstance(value, torch.Tensor))
        self.n = int(y.numel())
        self.layer_names: tuple[str, ...] = ()
        self.neurons: dict[str, int] = {}
        self.num_neurons = 0
        if has_aux:
            if not isinstance(aux, dict) or not all(isinstance(v, torch.Tensor) for v in aux.values()):
                raise TypeError(
                    "with has_aux=True, fn must return (output, preactivations) where preactivations is a "
                    "flat dict {layer name: tensor}; geomlib.torch_with_preactivations builds one with hooks"
                )
            self.layer_names = tuple(aux)
            self.neurons = {name: int(value.numel()) for name, value in aux.items()}
            self.num_neurons = sum(self.neurons.values())

        self.mode, self.rank_tol, self.num_sigma, self._W = None, None, 0, None
        if want_sigma:
            if sketch is not None:
                self.mode = "sketch"
                self._W = torch.as_tensor(
                    sketch.matrix(self.n, np.float64), dtype=self.tdtype, device=self.device
                )
                rows = sketch.k
            else:
                self.mode = (
                    "exact-jacfwd" if self.d < self.n and self._forward_mode_works() else "exact-jacrev"
                )
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

    def _forward_mode_works(self) -> bool:
        """Whether ``torch.func.jvp`` runs through ``fn`` (it fails on PyTorch's fused SDPA kernels)."""
        zero = torch.zeros(self.d, dtype=self.tdtype, device=self.device)
        try:
            with torch.no_grad():
                torch.func.jvp(self._output, (zero,), (zero,))
        except (RuntimeError, NotImplementedError):
            return False
        return True

    def _pullback_rows(self, z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``(B, rows, d)``: each row (a cotangent) pulled back through each input of ``z`` (B, d).

        One forward pass for the chunk (``vmap`` of the one-input ``fn``), then
        the rows as a batch of cotangents in blocks of ``row_chunk``
        (``autograd.grad(..., is_grads_batched=True)``, the graph kept between
        blocks): one linearization, k vector-Jacobian products.
        """
        block = self.row_chunk or len(rows)
        x = z.detach().requires_grad_(True)
        parts = []
        with torch.enable_grad():
            y = torch.func.vmap(self._output)(x)  # (B, n)
            for start in range(0, len(rows), block):
                cotangents = rows[start : start + block]  # (r, n)
                last = start + block >= len(rows)
                (grad,) = torch.autograd.grad(
                    y,
                    x,
                    grad_outputs=cotangents[:, None, :].expand(len(cotangents), *y.shape),
                    is_grads_batched=True,
                    retain_graph=not last,
                )  # (r, B, d)
                parts.append(grad.transpose(0, 1))
        return torch.cat(parts, dim=1)

    def _push_forward_columns(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, d, n)``: the transposed Jacobian at each input, from d Jacobian-vector products.

        The columns of the identity go through ``torch.func.jvp`` in blocks of
        ``row_chunk`` (vectorized with ``vmap``); cheaper than n VJPs when d < n.
        """
        eye = torch.eye(self.d, dtype=self.tdtype, device=self.device)
        block = self.row_chunk or self.d

        def columns(z_i, tangents):
            return torch.func.vmap(lambda t: torch.func.jvp(self._output, (z_i,), (t,))[1])(tangents)

        with torch.no_grad():
            parts = [
                torch.stack([columns(z_i, eye[start : start + block]) for z_i in z])
                for start in range(0, self.d, block)
            ]
        return torch.cat(parts, dim=1)

    def _jacobians(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, rows, cols)`` matrices with the singular values of the Jacobian (or of ``W A``)."""
        if self.mode == "sketch":
            return self._pullback_rows(z, self._W)
        if self.mode == "exact-jacfwd":
            return self._push_forward_columns(z)
        return self._pullback_rows(z, torch.eye(self.n, dtype=self.tdtype, device=self.device))

    def __call__(self, z_chunk: np.ndarray) -> dict[str, torch.Tensor]:
        z = torch.as_tensor(np.ascontiguousarray(z_chunk), dtype=self.tdtype, device=self.device)
        out: dict[str, torch.Tensor] = {}
        if self.mode is not None:
            sigma = singular_values(self._jacobians(z))
            out["sigma"] = sigma
            out["psi"] = descriptors.local_scaling(sigma, self.rank_tol)
            out["nu"] = descriptors.local_rank(sigma, self.rank_tol)
            out["rank"] = descriptors.numerical_rank(sigma, self.rank_tol)
        if self._offsets is not None:
            out["delta_by_layer"] = self._sign_change_counts(z)
        return out

    @torch.no_grad()
    def _sign_change_counts(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, L)``: per input and layer, the neurons whose sign is not the same at every vertex.

        All vertices in one vectorized forward pass, or ``vertex_chunk`` at a time: then only whether
        each neuron was seen positive and seen non-positive is kept between blocks (two booleans per
        neuron instead of every vertex's float pre-activations), which bounds the memory of large
        decoders; the counts are the same.
        """
        offsets = self._offsets
        if self.vertex_chunk is None or self.vertex_chunk >= len(offsets):
            vertices = z[:, None, :] + offsets[None]  # (B, V, d)
            preacts = torch.func.vmap(torch.func.vmap(self._preacts))(vertices)  # name -> (B, V, ...)
            counts = [
                descriptors.local_complexity(preacts[name].reshape(*vertices.shape[:2], -1).transpose(0, 1))
                for name in self.layer_names
            ]
            return torch.stack(counts, dim=-1)
        seen_on: dict[str, torch.Tensor] = {}
        seen_off: dict[str, torch.Tensor] = {}
        for start in range(0, len(offsets), self.vertex_chunk):
            vertices = z[:, None, :] + offsets[None, start : start + self.vertex_chunk]
            preacts = torch.func.vmap(torch.func.vmap(self._preacts))(vertices)
            for name in self.layer_names:
                on = preacts.pop(name).reshape(*vertices.shape[:2], -1) > 0  # (B, v, neurons)
                block_on, block_off = on.any(dim=1), (~on).any(dim=1)
                seen_on[name] = block_on | seen_on[name] if name in seen_on else block_on
                seen_off[name] = block_off | seen_off[name] if name in seen_off else block_off
        counts = [
            (seen_on[name] & seen_off[name]).sum(dim=-1, dtype=torch.int32) for name in self.layer_names
        ]
        return torch.stack(counts, dim=-1)

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
