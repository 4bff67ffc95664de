"""Every call of every nonlinearity counts: neuron totals and delta against counts made with our own hooks."""

import numpy as np
import pytest
import torch
from torch import nn

from geomlib import Polytope, local_geometry
from geomlib.core.backends.torch_backend import torch_with_preactivations, use_math_attention


class ReusedActivation(nn.Module):
    """One ReLU module applied to two different affine maps of the input."""

    def __init__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, e: np.ndarray):
        super().__init__()
        self.first, self.second = nn.Linear(a.shape[1], a.shape[0]), nn.Linear(c.shape[1], c.shape[0])
        with torch.no_grad():
            self.first.weight.copy_(torch.as_tensor(a))
            self.first.bias.copy_(torch.as_tensor(b))
            self.second.weight.copy_(torch.as_tensor(c))
            self.second.bias.copy_(torch.as_tensor(e))
        self.act = nn.ReLU()

    def forward(self, z):
        return torch.cat([self.act(self.first(z)), self.act(self.second(z))])


def brute_force_changes(weight, bias, z, vertices_offsets):
    """Neurons of ``weight @ x + bias`` whose sign is not the same at every vertex ``z + offset``."""
    values = (z[None] + vertices_offsets) @ weight.T + bias  # (V, neurons)
    on = values > 0
    return int(np.sum(on.any(0) & ~on.all(0)))


def test_a_module_called_twice_counts_both_calls():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((7, 3)), rng.standard_normal(7) * 0.05
    c, e = rng.standard_normal((5, 3)), rng.standard_normal(5) * 0.05
    model = ReusedActivation(a, b, c, e).double()
    zs = rng.standard_normal((6, 3)) * 0.05
    polytope = Polytope(k=3, r=0.2, seed=1)
    geom = local_geometry(
        torch_with_preactivations(model, model), zs, has_aux=True, polytope=polytope, progress=False
    )
    offsets = polytope.offsets(3, np.float64)
    expected = [brute_force_changes(a, b, z, offsets) + brute_force_changes(c, e, z, offsets) for z in zs]
    np.testing.assert_array_equal(geom.delta, expected)
    assert geom.settings["neurons"] == {"act": 7 + 5}
    assert min(expected) < max(expected) and max(expected) > 0  # the probe is not trivially 0


def independent_counts(module: nn.Module, fn, zs: np.ndarray, offsets: np.ndarray):
    """Neurons and sign changes of every SiLU/GELU-proj call, with hooks written here (no geomlib)."""
    calls: list[torch.Tensor] = []
    handles = []
    for sub in module.modules():
        if isinstance(sub, nn.SiLU):
            handles.append(sub.register_forward_pre_hook(lambda _m, args: calls.append(args[0].detach())))
        if type(sub).__name__ in ("GELU", "ApproximateGELU"):
            handles.append(sub.proj.register_forward_hook(lambda _m, _a, out: calls.append(out.detach())))
        if type(sub).__name__ == "GEGLU":
            handles.append(
                sub.proj.register_forward_hook(lambda _m, _a, out: calls.append(out.chunk(2, -1)[1].detach()))
            )
    try:
        deltas = []
        for z in zs:
            signs = []
            for offset in offsets:
                calls.clear()
                with torch.no_grad():
                    fn(torch.as_tensor(z + offset, dtype=torch.float32))
                signs.append(torch.cat([c.reshape(-1) for c in calls]) > 0)
            neurons = len(signs[0])
            signs = torch.stack(signs)
            deltas.append(int((signs.any(0) & ~signs.all(0)).sum()))
    finally:
        for handle in handles:
            handle.remove()
    return neurons, deltas


def _check_against_independent_hooks(module, fn, in_shape, r):
    rng = np.random.default_rng(0)
    zs = rng.standard_normal((3, *in_shape)).astype(np.float32)
    polytope = Polytope(k=2, r=r, seed=3)
    geom = local_geometry(
        torch_with_preactivations(fn, module),
        zs,
        has_aux=True,
        descriptors=("delta",),
        polytope=polytope,
        progress=False,
    )
    offsets = polytope.offsets(zs[0].size, np.float32).reshape(-1, *in_shape)
    neurons, deltas = independent_counts(module, fn, zs, offsets)
    assert sum(geom.settings["neurons"].values()) == neurons
    np.testing.assert_array_equal(geom.delta, deltas)
    assert max(deltas) > 0
    return geom


def test_resnet_block_sees_both_calls_of_its_nonlinearity():
    from diffusers.models.resnet import ResnetBlock2D

    torch.manual_seed(0)
    block = ResnetBlock2D(in_channels=8, out_channels=8, temb_channels=None, groups=4).eval()
    geom = _check_against_independent_hooks(block, lambda x: block(x[None], None)[0], (8, 6, 6), r=0.05)
    assert geom.settings["neurons"] == {"nonlinearity": 2 * 8 * 6 * 6}  # 576: both calls, not 288


def test_tiny_autoencoder_decoder_counts_every_call():
    from diffusers import AutoencoderKL

    torch.manual_seed(1)
    vae = AutoencoderKL(
        in_channels=1,
        out_channels=1,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=2,
        norm_num_groups=4,
        sample_size=8,
    ).eval()
    use_math_attention(vae)
    _check_against_independent_hooks(vae.decoder, lambda z: vae.decode(z[None]).sample[0], (2, 4, 4), r=0.05)


def test_tiny_unet_counts_every_call():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(2)
    unet = UNet2DConditionModel(
        sample_size=4,
        in_channels=2,
        out_channels=2,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8,
        attention_head_dim=4,
        norm_num_groups=8,
    ).eval()
    use_math_attention(unet)
    context = torch.randn(1, 3, 8)
    t = torch.tensor(10)
    geom = _check_against_independent_hooks(
        unet, lambda x: unet(x[None], t, encoder_hidden_states=context).sample[0], (2, 4, 4), r=0.05
    )
    assert any("ff.net.0" in name for name in geom.settings["neurons"])  # the GEGLU gates


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_mode_exact_jacobian_matches_autograd(dtype):
    """d < n: the exact Jacobian comes from forward mode; its psi equals a dense autograd Jacobian's."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 9))
    if dtype == np.float64:
        net = net.double()
    zs = np.random.default_rng(4).standard_normal((5, 3)).astype(dtype)
    geom = local_geometry(lambda z: net(z), zs, backend="torch", return_sigma=True, progress=False)
    assert geom.settings["jacobian"] == "exact-jacfwd"
    for z, sigma in zip(zs, geom.sigma, strict=True):
        dense = torch.autograd.functional.jacobian(net.double(), torch.as_tensor(z, dtype=torch.float64))
        expected = np.linalg.svd(dense.numpy(), compute_uv=False)
        np.testing.assert_allclose(sigma, expected, rtol=1e-4 if dtype == np.float32 else 1e-10)
        if dtype == np.float32:
            net.float()
