"""delta of a plain function, no has_aux: every nonlinearity call found (JAX: in the traced program;
PyTorch: functional calls and modules alike), each site's count equal to a brute-force count written here
from the model's documented forward pass."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from geomlib import Polytope, local_geometry
from geomlib.core.backends.torch_backend import torch_with_preactivations, use_math_attention

POLYTOPE = Polytope(k=3, r=0.4, seed=5)


def vertices(z: np.ndarray) -> np.ndarray:
    """z +/- r v_j, the cross-polytope of the definition (directions from the documented Polytope)."""
    v = POLYTOPE.r * POLYTOPE.directions(z.size)
    return np.concatenate([z[None] + v, z[None] - v])


def changed(pre: np.ndarray) -> int:
    """Neurons (columns) whose sign is not the same at every vertex (rows)."""
    on = pre.reshape(len(pre), -1) > 0
    return int((on.any(0) & ~on.all(0)).sum())


def test_a_plain_flax_mlp_counts_every_relu_and_gelu_by_brute_force():
    import flax.linen as fnn

    class MLP(fnn.Module):
        @fnn.compact
        def __call__(self, x):
            h = fnn.relu(fnn.Dense(12, name="d0")(x))
            h = fnn.gelu(fnn.Dense(12, name="d1")(h))  # jax.nn.gelu: the tanh form, inlined
            h = fnn.relu(fnn.Dense(6, name="d2")(h))  # relu called twice, on other values
            return fnn.Dense(2, name="d3")(h)

    model = MLP()
    params = model.init(jax.random.PRNGKey(0), jnp.ones(5))["params"]
    zs = np.random.default_rng(0).standard_normal((12, 5)).astype(np.float32)
    geom = local_geometry(
        lambda z: model.apply({"params": params}, z),
        zs,
        descriptors=("delta",),
        polytope=POLYTOPE,
        progress=False,
    )
    assert geom.settings["all_layers"] == ["MLP/relu_0", "MLP/relu_1", "MLP/tanh_0"]
    assert geom.settings["preactivations"] == "captured"

    w = {
        name: (np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64))
        for name, p in params.items()
    }
    for i, z in enumerate(zs):
        x = vertices(z.astype(np.float64))
        pre0 = x @ w["d0"][0] + w["d0"][1]
        pre1 = np.maximum(pre0, 0) @ w["d1"][0] + w["d1"][1]
        gelu = 0.5 * pre1 * (1 + np.tanh(np.sqrt(2 / np.pi) * (pre1 + 0.044715 * pre1**3)))
        pre2 = gelu @ w["d2"][0] + w["d2"][1]
        assert geom.delta_by_layer["MLP/relu_0"][i] == changed(pre0)
        assert geom.delta_by_layer["MLP/tanh_0"][i] == changed(pre1)  # the GELU's tanh has its input's sign
        assert geom.delta_by_layer["MLP/relu_1"][i] == changed(pre2)
    assert geom.delta.sum() > 0  # a test that could fail: sign changes happen at this radius


def test_jax_sites_can_be_restricted_and_an_activation_free_map_is_refused():
    def fn(z):
        return jnp.tanh(z @ jnp.ones((3, 4))) + jnp.maximum(z @ jnp.eye(3, 4), 0.0) + jax.nn.softplus(z[:1])

    zs = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    geom = local_geometry(
        fn, zs, descriptors=("delta",), polytope=POLYTOPE, layers=["relu_0"], progress=False
    )
    assert set(geom.settings["all_layers"]) == {"tanh_0", "relu_0", "softplus_0"}
    np.testing.assert_array_equal(geom.delta, geom.delta_by_layer["relu_0"])
    with pytest.raises(ValueError, match="calls no nonlinearity that geomlib recognises"):
        local_geometry(lambda z: z @ jnp.ones((3, 2)), zs, descriptors=("delta",), progress=False)


class Functional(nn.Module):
    """Activations called as functions, F.relu reused on other values, plus one activation module."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 10), nn.Linear(10, 10), nn.Linear(10, 3)
        self.act = nn.SiLU()

    def forward(self, x):
        h = F.relu(self.a(x))
        h = F.relu(self.b(h))
        h = torch.tanh(self.b(self.act(h)))
        return self.c(F.gelu(h))


def test_a_torch_module_with_functional_activations_by_brute_force():
    torch.manual_seed(0)
    net = Functional().double()
    zs = torch.randn(10, 4, dtype=torch.float64)
    geom = local_geometry(net, zs, descriptors=("delta",), polytope=POLYTOPE, progress=False)
    assert geom.settings["all_layers"] == ["relu_0", "relu_1", "act.silu_0", "tanh_0", "gelu_0"]
    with torch.no_grad():
        for i, z in enumerate(zs.numpy()):
            x = torch.as_tensor(vertices(z))
            pre = {"relu_0": net.a(x)}
            pre["relu_1"] = net.b(pre["relu_0"].clamp(min=0))
            pre["act.silu_0"] = pre["relu_1"].clamp(min=0)
            pre["tanh_0"] = net.b(pre["act.silu_0"] * torch.sigmoid(pre["act.silu_0"]))
            pre["gelu_0"] = torch.tanh(pre["tanh_0"])
            for name, values in pre.items():
                assert geom.delta_by_layer[name][i] == changed(values.numpy()), name
    assert geom.delta.sum() > 0


def test_a_diffusers_block_with_module_and_functional_activations_by_brute_force():
    from diffusers.models.resnet import ResnetBlock2D

    torch.manual_seed(1)
    block = ResnetBlock2D(in_channels=8, out_channels=8, temb_channels=None, groups=4).eval()

    def fn(x):  # the block's SiLU module runs twice (after each norm), then a functional GELU
        return F.gelu(block(x[None], None)[0])

    zs = torch.randn(3, 8, 4, 4)
    geom = local_geometry(fn, zs, descriptors=("delta",), polytope=POLYTOPE, backend="torch", progress=False)
    sites = geom.settings["all_layers"]
    assert sites == ["nonlinearity.silu_0", "nonlinearity.silu_1", "gelu_0"]
    with torch.no_grad():
        for i, z in enumerate(zs.numpy()):
            x = torch.as_tensor(vertices(z.ravel()).reshape(-1, 8, 4, 4), dtype=torch.float32)
            first = block.norm1(x)
            second = block.norm2(block.conv1(F.silu(first)))
            out = (x + block.conv2(F.silu(second))) / block.output_scale_factor
            for name, values in zip(sites, (first, second, out), strict=True):
                assert geom.delta_by_layer[name][i] == changed(values.numpy()), name


def test_on_a_tiny_dit_capture_sees_what_the_module_hooks_see_and_the_functional_silu(tiny_dit):
    dit = tiny_dit
    t, y = torch.zeros(1, dtype=torch.long), torch.tensor([1])

    def fn(x):
        return dit(x[None], timestep=t, class_labels=y).sample[0]

    zs = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hooked = local_geometry(
            torch_with_preactivations(fn, dit), zs, has_aux=True, descriptors=("delta",), polytope=POLYTOPE,
            progress=False,
        )  # fmt: skip
        captured = local_geometry(
            fn, zs, descriptors=("delta",), polytope=POLYTOPE, backend="torch", progress=False
        )
    # the hooks miss the functional F.silu on the conditioning; it does not depend on the latent, so its
    # neurons never change sign and delta is the same
    assert captured.settings["neurons"]["silu_0"] > 0 and captured.delta_by_layer["silu_0"].sum() == 0
    np.testing.assert_array_equal(captured.delta, hooked.delta)
    assert sum(captured.settings["neurons"].values()) > sum(hooked.settings["neurons"].values())


def test_the_stable_diffusion_maps_hide_no_functional_activation_from_the_hooks():
    """The UNet and VAE decoder call every activation through a module: capture and hooks agree."""
    from geomlib.pipelines import tiny

    pipe = tiny.stable_diffusion(0, channels=(16, 32), side=8, context=16, groups=8)
    unet, vae = pipe.unet, pipe.vae
    use_math_attention(unet)
    use_math_attention(vae)
    context, t = torch.randn(1, 5, 16), torch.tensor(10)
    maps = {
        "unet": (lambda x: unet(x[None], t, encoder_hidden_states=context).sample[0], unet),
        "decoder": (lambda x: vae.decode(x[None]).sample[0], vae.decoder),
    }
    zs = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
    for fn, module in maps.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            hooked = local_geometry(
                torch_with_preactivations(fn, module), zs, has_aux=True, descriptors=("delta",),
                polytope=POLYTOPE, progress=False,
            )  # fmt: skip
            captured = local_geometry(
                fn, zs, descriptors=("delta",), polytope=POLYTOPE, backend="torch", progress=False
            )
        assert sum(captured.settings["neurons"].values()) == sum(hooked.settings["neurons"].values())
        np.testing.assert_array_equal(captured.delta, hooked.delta)
        assert hooked.delta.min() > 0


def test_a_flax_module_given_for_its_apply_gets_one_sentence():
    import flax.linen as fnn

    from geomlib import flax_with_preactivations

    model = fnn.Dense(3)
    with pytest.raises(TypeError, match=r"apply_fn must be the module's apply \(e.g. model.apply\)"):
        flax_with_preactivations(model, model.init(jax.random.PRNGKey(0), jnp.ones(2)))
