"""The PyTorch backend: the same numbers as the JAX backend on the same weights, and the diffusers paths."""

import copy
import warnings

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from geomlib import Polytope, Sketch, flax_with_preactivations, local_geometry
from geomlib.core.backends.torch_backend import preactivation_sites, torch_with_preactivations

WIDTHS = (6, 24, 16, 10)  # input, two hidden layers, output


class FlaxMLP(fnn.Module):
    @fnn.compact
    def __call__(self, z):
        h = fnn.Dense(WIDTHS[1], name="d0")(z)
        self.sow("preactivations", "a0", h)
        h = fnn.Dense(WIDTHS[2], name="d1")(jax.nn.gelu(h, approximate=False))
        self.sow("preactivations", "a1", h)
        return fnn.Dense(WIDTHS[3], name="d2")(jax.nn.relu(h))


def twin_networks():
    """A Flax MLP and a torch MLP with the same weights."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(WIDTHS[0], WIDTHS[1]),
        torch.nn.GELU(),
        torch.nn.Linear(WIDTHS[1], WIDTHS[2]),
        torch.nn.ReLU(),
        torch.nn.Linear(WIDTHS[2], WIDTHS[3]),
    )
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    params = {
        "params": {
            f"d{i}": {
                "kernel": jnp.asarray(m.weight.detach().numpy().T),
                "bias": jnp.asarray(m.bias.detach().numpy()),
            }
            for i, m in enumerate(linears)
        }
    }
    jax_fn = flax_with_preactivations(FlaxMLP().apply, params)
    net64 = copy.deepcopy(net).double()
    return jax_fn, torch_with_preactivations(lambda z: net(z), net), torch_with_preactivations(net64, net64)


@pytest.mark.parametrize("sketch", [None, Sketch(k=6, seed=1), Sketch(k=10, seed=2)])
def test_same_weights_give_the_same_descriptors_in_jax_and_torch(sketch):
    """In float64 both backends agree to 1e-5 relative (far better, in fact); float32 adds rounding only."""
    jax_fn, torch_fn, torch_fn64 = twin_networks()
    zs = np.random.default_rng(0).standard_normal((40, WIDTHS[0]))
    settings = dict(has_aux=True, sketch=sketch, polytope=Polytope(k=3, r=0.4, seed=5), progress=False)
    with jax.enable_x64(True):
        a = local_geometry(jax_fn, zs, **settings)
    b = local_geometry(torch_fn64, zs, **settings)
    assert a.settings["backend"] == "jax" and b.settings["backend"] == "torch"
    assert a.settings["dtype"] == b.settings["dtype"] == "float64"
    np.testing.assert_allclose(b.psi, a.psi, rtol=1e-5)
    np.testing.assert_allclose(b.nu, a.nu, rtol=1e-5)
    np.testing.assert_array_equal(b.delta, a.delta)
    for jax_layer, torch_layer in zip(a.delta_by_layer, b.delta_by_layer, strict=True):
        np.testing.assert_array_equal(b.delta_by_layer[torch_layer], a.delta_by_layer[jax_layer])
    assert a.delta.sum() > 0

    single_a = local_geometry(jax_fn, zs.astype(np.float32), **settings)
    single_b = local_geometry(torch_fn, zs.astype(np.float32), **settings)
    np.testing.assert_allclose(single_b.psi, single_a.psi, rtol=1e-3)
    np.testing.assert_allclose(single_b.nu, single_a.nu, rtol=1e-4)


def test_torch_linear_map_matches_numpy():
    A = np.random.default_rng(1).standard_normal((9, 4))
    weight = torch.as_tensor(A, dtype=torch.float32)
    geom = local_geometry(lambda z: weight @ z, np.zeros((2, 4), np.float32), backend="torch", progress=False)
    sigma = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(geom.psi, np.log(sigma).sum(), rtol=1e-5)


def test_diffusers_gelu_is_read_after_its_projection():
    """diffusers' GELU applies a Linear first: the pre-activation is proj's output, not the module input."""
    from diffusers.models.activations import GELU

    torch.manual_seed(0)
    block = torch.nn.Sequential(GELU(5, 7, approximate="tanh"), torch.nn.Linear(7, 3))
    assert preactivation_sites(block)["0"][1] == "output"
    z = torch.randn(5)
    _, preacts = torch_with_preactivations(lambda x: block(x), block)(z)
    torch.testing.assert_close(preacts["0"], block[0].proj(z))


def test_tiny_dit_sketch_with_k_equal_n_is_exact(tiny_dit):
    t, y = torch.zeros(1, dtype=torch.long), torch.tensor([1])
    fn = torch_with_preactivations(
        lambda x: tiny_dit(x[None], timestep=t, class_labels=y).sample[0], tiny_dit
    )
    zs = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exact = local_geometry(fn, zs, has_aux=True, polytope=Polytope(k=4, r=0.5), progress=False)
        sketched = local_geometry(
            fn,
            zs,
            has_aux=True,
            sketch=Sketch(k=64),
            polytope=Polytope(k=4, r=0.5),
            row_chunk=16,
            progress=False,
        )
    np.testing.assert_allclose(sketched.psi, exact.psi, rtol=1e-4)
    np.testing.assert_array_equal(sketched.delta, exact.delta)
    assert any(name.endswith("ff.net.0") for name in exact.delta_by_layer)  # the feed-forward GELU is seen


def test_missing_pretrained_weights_give_one_clear_sentence(tmp_path, monkeypatch):
    from geomlib.models.dit import pretrained_dit
    from geomlib.models.pretrained import MissingWeightsError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(
        MissingWeightsError, match="The pretrained DiT weights 'facebook/DiT-XL-2-256' are not"
    ):
        pretrained_dit("facebook/DiT-XL-2-256", allow_download=False)


def test_row_chunk_is_refused_with_the_jax_backend():
    jax_fn, _, _ = twin_networks()
    with pytest.raises(ValueError, match="row_chunk applies to the torch backend only"):
        local_geometry(
            jax_fn, np.zeros((2, WIDTHS[0]), np.float32), has_aux=True, row_chunk=4, progress=False
        )


def test_quiet_imports_restores_the_library_settings():
    import warnings

    from transformers.utils import logging

    from geomlib.models.pretrained import quiet_imports

    before = logging.get_verbosity()
    filters = list(warnings.filters)
    with quiet_imports():
        assert logging.get_verbosity() == logging.ERROR
    assert logging.get_verbosity() == before
    assert warnings.filters == filters


def test_torch_with_preactivations_is_exported_without_importing_torch_at_import():
    import subprocess
    import sys

    code = (
        "import sys, geomlib; assert 'torch' not in sys.modules; "
        "geomlib.torch_with_preactivations; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"


def test_numpy_inputs_go_to_the_device_of_the_model_s_weights():
    """A pipeline on a GPU with NumPy inputs (geomlib.tools.scale's case): the probes are made on the weights'
    device. Checked here with the meta device, where any computation that reaches the model reports it."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).to("meta")

    def report(x):
        raise RuntimeError(f"probe on {x.device.type}")

    zs = np.zeros((2, 4), np.float32)
    with pytest.raises(RuntimeError, match="probe on meta"):
        local_geometry(torch_with_preactivations(report, model), zs, has_aux=True, progress=False)

    class Reporting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            return report(x)

    with pytest.raises(RuntimeError, match="probe on meta"):  # a plain module, delta captured
        local_geometry(Reporting().to("meta"), zs, descriptors=("delta",), backend="torch", progress=False)


def test_tf32_is_off_during_the_computation_and_restored_after():
    seen = []

    def fn(x):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return torch.tanh(x * 2.0)

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        local_geometry(fn, torch.randn(3, 4), descriptors=("psi", "delta"), progress=False)
        assert seen and set(seen) == {(False, False)}
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("vertex_chunk", [None, 1, 2, 4, 7, 100])
def test_delta_counted_a_few_vertices_at_a_time_matches_a_brute_force_count(vertex_chunk):
    """delta with the polytope's vertices evaluated ``vertex_chunk`` at a time (the memory setting of
    large decoders) against a count written here: the float64 net's pre-activations at every vertex in
    NumPy, a neuron counted when its sign is not the same at all of them."""
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 40),
        torch.nn.ReLU(),
        torch.nn.Linear(40, 30),
        torch.nn.ReLU(),
        torch.nn.Linear(30, 3),
    ).double()
    fn = torch_with_preactivations(net, net)
    polytope = Polytope(k=3, r=0.3, seed=2)  # 7 vertices with the centre: the blocks need not divide them
    zs = np.random.default_rng(1).standard_normal((6, 5))
    geom = local_geometry(
        fn,
        zs,
        has_aux=True,
        descriptors=("delta",),
        polytope=polytope,
        vertex_chunk=vertex_chunk,
        progress=False,
    )
    (w0, b0), (w1, b1) = ((m.weight.detach().numpy(), m.bias.detach().numpy()) for m in (net[0], net[2]))
    expected = []
    for z in zs:
        vertices = z + polytope.offsets(5, np.float64)
        first = vertices @ w0.T + b0
        second = np.maximum(first, 0) @ w1.T + b1
        expected.append(sum(int(np.sum((a > 0).any(0) & (a <= 0).any(0))) for a in (first, second)))
    np.testing.assert_array_equal(geom.delta, expected)
    assert np.min(expected) > 0  # the radius is large enough that some neurons do change sign


@pytest.mark.parametrize("name", ["row_chunk", "vertex_chunk"])
@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_bad_chunk_settings_are_named_in_one_sentence(name, value):
    _, torch_fn, _ = twin_networks()
    with pytest.raises(ValueError, match=f"{name} must be a positive integer or None; got {value!r}"):
        local_geometry(
            torch_fn, np.zeros((2, WIDTHS[0]), np.float32), has_aux=True, progress=False, **{name: value}
        )


def test_vertex_chunk_is_refused_with_the_jax_backend():
    jax_fn, _, _ = twin_networks()
    with pytest.raises(ValueError, match="vertex_chunk applies to the torch backend only"):
        local_geometry(
            jax_fn, np.zeros((2, WIDTHS[0]), np.float32), has_aux=True, vertex_chunk=2, progress=False
        )
