"""A reader's first call: each common mistake is refused before any work, in one sentence naming the fix."""

import numpy as np
import pytest
import torch

import geomlib
from geomlib import Polytope

Z = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)


def mlp(width=8, norm=None):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(2, width)] + ([norm] if norm is not None else []) + [torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 3))


def test_a_two_dimensional_latent_gets_a_polytope_of_its_two_directions_by_default():
    geom = geomlib.local_geometry(mlp(), torch.from_numpy(Z), descriptors=("delta",), progress=False)
    assert geom.settings["polytope"]["k"] == 2
    with pytest.raises(ValueError, match="Polytope.k=4 exceeds the input dimension d=2; use k <= 2"):
        geomlib.local_geometry(
            mlp(), torch.from_numpy(Z), descriptors=("delta",), polytope=Polytope(k=4), progress=False
        )


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_function_returning_a_tuple_is_told_to_return_its_output_only(backend):
    if backend == "torch":
        model = mlp()
        fn, zs = (lambda z: (model(z), z)), torch.from_numpy(Z)
    else:
        fn, zs = (lambda z: (z * 2.0, z)), Z
    with pytest.raises(TypeError, match=r"fn returned a tuple of 2 items; .*return it alone"):
        geomlib.local_geometry(fn, zs, progress=False)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_has_aux_without_a_pair_is_told_to_drop_has_aux(backend):
    fn, zs = (mlp(), torch.from_numpy(Z)) if backend == "torch" else ((lambda z: z * 2.0), Z)
    with pytest.raises(
        TypeError, match=r"has_aux=True, fn must return \(output, preactivations\).*has_aux=False"
    ):
        geomlib.local_geometry(fn, zs, has_aux=True, descriptors=("psi",), progress=False)


def test_numpy_inputs_to_a_pytorch_function_are_told_to_pass_a_tensor():
    model = mlp()
    with pytest.raises(
        TypeError, match=r"pass zs as a torch tensor \(torch.from_numpy\(zs\)\) or backend='torch'"
    ):
        geomlib.local_geometry(lambda z: model(z), Z, progress=False)
    # and the fix works
    geom = geomlib.local_geometry(lambda z: model(z), Z, backend="torch", progress=False)
    assert np.all(geom.rank == 2)


def test_bfloat16_inputs_are_told_to_pass_float32():
    with pytest.raises(TypeError, match=r"zs is torch.bfloat16: pass zs.float\(\)"):
        geomlib.local_geometry(mlp(), torch.from_numpy(Z).to(torch.bfloat16), progress=False)


def test_bfloat16_weights_are_told_to_cast():
    with pytest.raises(TypeError, match=r"half precision .*model.float\(\)"):
        geomlib.local_geometry(mlp().to(torch.bfloat16), torch.from_numpy(Z), progress=False)


def test_batchnorm_in_training_mode_is_told_to_call_eval():
    model = mlp(norm=torch.nn.BatchNorm1d(8))
    with pytest.raises(ValueError, match=r"BatchNorm layers in training mode .*call model.eval\(\) first"):
        geomlib.local_geometry(model, torch.from_numpy(Z), progress=False)
    with pytest.raises(ValueError, match=r"training mode and needs a batch axis: call model.eval"):
        geomlib.local_geometry(lambda z: model(z), torch.from_numpy(Z), progress=False)
    model.eval()
    geom = geomlib.local_geometry(lambda z: model(z[None])[0], torch.from_numpy(Z), progress=False)
    assert geom.psi.shape == (3,)


def test_a_model_that_needs_a_batch_axis_is_told_to_add_one():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2)).eval()
    images = torch.zeros((2, 1, 4, 4)).normal_()
    with pytest.raises(ValueError, match=r"without a batch axis.*lambda z: model\(z\[None\]\)\[0\]"):
        geomlib.local_geometry(conv, images, progress=False)
    geom = geomlib.local_geometry(lambda z: conv(z[None])[0], images, progress=False)
    assert geom.psi.shape == (2,)
