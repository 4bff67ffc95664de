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


def _processors(module):
    """The attention processor of every diffusers ``Attention`` in ``module``, by name."""
    from diffusers.models.attention_processor import Attention

    return {
        name: type(m.processor).__name__ for name, m in module.named_modules() if isinstance(m, Attention)
    }


def test_a_pretrained_dit_samples_with_its_own_attention_and_analyses_on_the_math_kernel():
    """Published weights keep their attention processors (fused kernels for sampling: the plain processor
    would hold every attention score); the descriptor maps run on the math kernel during each call, and
    give the descriptors of the same weights with the plain processor."""
    import copy

    from geomlib.models.dit import DiTModel
    from geomlib.pipelines import tiny

    pipe = tiny.dit(seed=0)
    before = _processors(pipe.transformer)
    parts = (pipe.scheduler, pipe.vae, {i: str(i) for i in range(5)}, "tiny DiT")
    published = DiTModel(pipe.transformer, *parts, pretrained=True)
    assert _processors(published.transformer) == before
    assert "AttnProcessor" not in set(before.values())  # the published default is a fused processor
    plain = DiTModel(copy.deepcopy(pipe.transformer), *parts)
    assert set(_processors(plain.transformer).values()) == {"AttnProcessor"}

    latents = np.random.default_rng(0).standard_normal((2, 4, 4, 4)).astype(np.float32)
    polytope = Polytope(k=2, r=0.05)
    got = published.geometry(latents, condition=1, timestep=10, polytope=polytope)
    assert _processors(published.transformer) == before  # nothing switched for good
    want = plain.geometry(latents, condition=1, timestep=10, polytope=polytope)
    np.testing.assert_allclose(got.psi, want.psi, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.nu, want.nu, rtol=1e-5)
    np.testing.assert_array_equal(got.delta, want.delta)
    np.testing.assert_allclose(
        published.sample([0, 1], seed=3, steps=2), plain.sample([0, 1], seed=3, steps=2), rtol=1e-4, atol=1e-5
    )


def test_a_pretrained_stable_diffusion_pipeline_keeps_its_attention_for_sampling(tiny_sd_folder):
    """The published pipeline's UNet and VAE keep their processors after loading and after a geometry
    call; the small model (trained here) runs on the plain processor throughout."""
    from geomlib.models.latent_diffusion import pretrained_latent_diffusion

    model = pretrained_latent_diffusion(str(tiny_sd_folder), allow_download=False, device="cpu")
    unet, vae = _processors(model.unet), _processors(model.vae)
    assert "AttnProcessor" not in set(unet.values()) | set(vae.values())
    latents = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    geom = model.geometry(
        latents, kind="unet", condition="a wet dingo", timestep=10, polytope=Polytope(k=2, r=0.05)
    )
    assert np.isfinite(geom.psi).all()
    assert (_processors(model.unet), _processors(model.vae)) == (unet, vae)
