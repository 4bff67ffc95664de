"""Every tensor a model path creates is created on the model's device.

Checked without a GPU: the model stays on the CPU while PyTorch's default
device is ``meta``, so any tensor made without an explicit device lands on
``meta`` and the first operation that mixes it with the model's weights fails.
"""

import numpy as np
import pytest
import torch

from geomlib import Polytope, presets


@pytest.fixture
def meta_default():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def _dit_paths(dit):
    latents = dit.sample([0, 1, 2], seed=3, steps=2, guidance=2.0)
    return {
        "latents": latents,
        "images": dit.decode(latents),
        "x0": dit.posterior_mean(latents, timestep=10, condition=1),
        "psi": dit.geometry(latents, condition=[0, 1, 2], timestep=10, polytope=Polytope(k=2, r=0.05)).psi,
    }


def test_the_dit_paths_create_their_tensors_on_the_models_device(request):
    from geomlib.models.dit import load_dit

    dit = load_dit(presets.resolve("dit", "smoke"))
    expected = _dit_paths(dit)
    request.getfixturevalue("meta_default")
    got = _dit_paths(dit)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def _latent_paths(model):
    prompts = [model.prompts[0], model.prompts[1]]
    latents = model.sample(prompts, seed=3, steps=2, guidance=2.0)
    images = model.decode(latents)
    return {
        "latents": latents,
        "trajectory": model.sample_trajectories(prompts, seed=3, steps=2).trajectory,
        "images": images,
        "encoded": model.encode(images),
        "x0": model.posterior_mean(latents, timestep=10, condition=prompts[0]),
        "psi": model.geometry(
            latents, kind="unet", condition=prompts, timestep=10, polytope=Polytope(k=2, r=0.05)
        ).psi,
    }


def test_the_latent_diffusion_paths_create_their_tensors_on_the_models_device(request):
    from geomlib.models.latent_diffusion import load_latent_diffusion

    model = load_latent_diffusion(presets.resolve("stable_diffusion", "smoke"))
    expected = _latent_paths(model)
    request.getfixturevalue("meta_default")
    got = _latent_paths(model)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)
