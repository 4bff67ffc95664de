"""Every generator family through the same checks: the ``geomlib.models.Generator`` interface.

The four families are built small (a toy MLP DDPM and a beta-VAE trained for
a few steps, the smoke presets' DiT and latent diffusion model); each check
runs on all four with the same code, through the interface only.
"""

import numpy as np
import pytest

from geomlib import Polytope, local_geometry, presets
from geomlib.models.base import Generator

FAMILIES = ("toy", "vae", "dit", "latent")
POLYTOPE = Polytope(k=2, r=0.05, seed=1)


def _toy():
    from geomlib.models.diffusion import DDPMSchedule
    from geomlib.models.mlp_denoiser import MLPDenoiserConfig, train_mlp_diffusion
    from geomlib.models.training import TrainSettings

    data = np.random.default_rng(0).standard_normal((256, 2)).astype(np.float32)
    config = MLPDenoiserConfig(data_dim=2, hidden=16, depth=2, time_features=8)
    return train_mlp_diffusion(
        "test/toy", data, config, DDPMSchedule(), TrainSettings(20, 64, 1e-3, 0, (20,))
    )


def _vae():
    from geomlib.models.vae import VAESettings, train_vae

    images = np.random.default_rng(0).uniform(size=(64, 28, 28)).astype(np.float32)
    settings = VAESettings.preset(
        "smoke", architecture="mlp", latent_dim=3, hidden=(16,), train_steps=5, batch_size=16
    )
    return train_vae(settings, images, "random test images")


def _dit():
    from geomlib.models.dit import load_dit

    return load_dit(presets.resolve("dit", "smoke"))


def _latent():
    from geomlib.models.latent_diffusion import load_latent_diffusion

    return load_latent_diffusion(presets.resolve("stable_diffusion", "smoke"))


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # the models train once, in a cache of this module's own
        patch.setenv("GEOMLIB_CACHE", str(tmp_path_factory.mktemp("generators-cache")))
        yield {"toy": _toy(), "vae": _vae(), "dit": _dit(), "latent": _latent()}


def _conditions(name: str, model, count: int):
    """What ``sample`` takes: a count (unconditional) or one condition per sample."""
    if name in ("toy", "vae"):
        return count
    if name == "dit":
        return np.arange(count) % 3
    return [model.prompts[i % len(model.prompts)] for i in range(count)]


def _map_args(name: str, model, kind: str) -> dict:
    """A condition and a timestep the map takes (decoders take neither)."""
    if kind == "decoder":
        return {}
    condition = {"toy": None, "dit": 1}[name] if name != "latent" else model.prompts[0]
    return {"condition": condition, "timestep": 500}


def _one_input(name: str, x: np.ndarray):
    """A map takes one input in its own framework's arrays (a tensor for the PyTorch families)."""
    if name in ("dit", "latent"):
        import torch

        return torch.as_tensor(x)
    return x


def _inputs(model, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, *model.input_shape)).astype(np.float32)


def _sample_options(name: str) -> dict:
    return {"steps": 3} if name in ("dit", "latent") else {}


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_implements_the_interface(generators, name):
    model = generators[name]
    assert isinstance(model, Generator)
    assert isinstance(model.description, str) and model.description
    assert model.model_key, "a trained model is identified by its weights, so its geometry is cached"
    assert model.map_kinds and all(isinstance(kind, str) for kind in model.map_kinds)
    with pytest.raises(ValueError, match="kind"):
        model.analysed_map("no such map")


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_i_depends_on_seed_and_i_only(generators, name):
    model, options = generators[name], _sample_options(name)
    three = model.sample(_conditions(name, model, 3), seed=4, **options)
    two = model.sample(_conditions(name, model, 2), seed=4, **options)
    np.testing.assert_array_equal(three[:2], two)
    assert three.shape[1:] == tuple(model.input_shape) or name == "toy"
    if "batch" in model.sample.__code__.co_varnames:
        one_at_a_time = model.sample(_conditions(name, model, 3), seed=4, batch=1, **options)
        # the same noise; only batched convolutions round differently (about 1e-6 here)
        np.testing.assert_allclose(one_at_a_time, three, rtol=1e-4, atol=1e-5)
    other_seed = model.sample(_conditions(name, model, 2), seed=5, **options)
    assert not np.allclose(other_seed, two)


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_with_a_seed_only_works_for_every_family(generators, name):
    """``sample(conditions, seed=...)`` as the protocol promises: no family requires another option."""
    import inspect

    model = generators[name]
    required = [
        p.name
        for p in inspect.signature(model.sample).parameters.values()
        if p.default is inspect.Parameter.empty and p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert required == ["seed"]
    assert len(model.sample(_conditions(name, model, 1), seed=0)) == 1


@pytest.mark.parametrize("name", ["dit", "latent"])
def test_a_run_in_parts_from_first_index_is_the_run_whole(generators, name):
    # the reward study keeps a long sampler run in parts of whole batches: the same batches, the same bits
    model, options = generators[name], {**_sample_options(name), "batch": 2}
    conditions = _conditions(name, model, 5)
    whole = model.sample(conditions, seed=4, **options)
    parts = [model.sample(conditions[a:b], seed=4, first_index=a, **options) for a, b in ((0, 4), (4, 5))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError, match="first_index must be a non-negative integer; got -1"):
        model.sample(conditions[:1], seed=4, first_index=-1, **options)


@pytest.mark.parametrize("name", FAMILIES)
def test_decoded_samples_are_images_in_the_unit_interval_or_the_toy_points(generators, name):
    model = generators[name]
    samples = model.sample(_conditions(name, model, 2), seed=0, **_sample_options(name))
    decoded = model.decode(samples)
    assert len(decoded) == 2
    if name == "toy":
        np.testing.assert_array_equal(decoded, samples)
    else:
        assert decoded.ndim in (3, 4) and decoded.min() >= 0 and decoded.max() <= 1


@pytest.mark.parametrize("name", FAMILIES)
def test_every_map_is_a_function_of_one_input_with_its_preactivations(generators, name):
    model = generators[name]
    x = _inputs(model, 1)[0]
    for kind in model.map_kinds:
        output, preactivations = model.analysed_map(kind, **_map_args(name, model, kind))(_one_input(name, x))
        assert output.shape and np.all(np.isfinite(np.asarray(output.tolist()))), kind
        assert preactivations and all(int(np.prod(v.shape)) for v in preactivations.values()), kind


@pytest.mark.parametrize("name", FAMILIES)
def test_geometry_is_local_geometry_of_the_generators_own_map(generators, name):
    model, inputs = generators[name], None
    for kind in model.map_kinds:
        inputs = _inputs(model, 3, seed=2)
        args = _map_args(name, model, kind)
        geom = model.geometry(inputs, kind=kind, polytope=POLYTOPE, **args)
        direct = local_geometry(
            model.analysed_map(kind, **args), inputs, has_aux=True, polytope=POLYTOPE, progress=False
        )
        for descriptor in ("psi", "nu", "delta"):
            np.testing.assert_array_equal(getattr(geom, descriptor), getattr(direct, descriptor))
        # one default for every family: psi and nu, and delta only with a polytope
        assert model.geometry(inputs[:1], kind=kind, **args).delta is None


@pytest.mark.parametrize("name", FAMILIES)
def test_geometry_is_cached_once_per_key(generators, name, tmp_path):
    model = generators[name]
    inputs, args = _inputs(model, 2, seed=3), _map_args(name, model, model.map_kinds[0])
    first = model.geometry(inputs, polytope=POLYTOPE, **args)
    stored = sorted(tmp_path.rglob("geometry/**/*.npz"))
    assert len(stored) == 1
    again = model.geometry(inputs, polytope=POLYTOPE, **args)
    assert sorted(tmp_path.rglob("geometry/**/*.npz")) == stored
    np.testing.assert_array_equal(first.psi, again.psi)
    model.geometry(inputs, polytope=POLYTOPE, descriptors=("psi",), **args)  # another key: its own entry
    assert len(sorted(tmp_path.rglob("geometry/**/*.npz"))) == 2


@pytest.mark.parametrize("name", ("dit", "latent"))
def test_one_condition_per_input_equals_one_call_per_condition(generators, name):
    model = generators[name]
    kind = model.map_kinds[0] if name == "dit" else "unet"
    inputs = _inputs(model, 3, seed=4)
    conditions = [1, 2, 1] if name == "dit" else [model.prompts[1], model.prompts[0], model.prompts[1]]
    mixed = model.geometry(inputs, kind=kind, condition=conditions, timestep=500)
    for i, condition in enumerate(conditions):
        alone = model.geometry(inputs[i : i + 1], kind=kind, condition=condition, timestep=500)
        np.testing.assert_allclose(mixed.psi[i], alone.psi[0], rtol=1e-5)
    with pytest.raises(ValueError, match="condition"):
        model.geometry(inputs, kind=kind, condition=conditions[:2], timestep=500)


@pytest.mark.parametrize("name", ("toy", "dit", "latent"))
def test_posterior_mean_of_a_batch_is_the_x0_map_of_each_input(generators, name):
    model = generators[name]
    args = _map_args(name, model, "x0")
    inputs = _inputs(model, 3, seed=5)
    batch = model.posterior_mean(inputs, **args)
    x0 = model.analysed_map("x0", **args)
    for i in range(3):
        single = np.asarray(x0(_one_input(name, inputs[i]))[0].tolist())
        np.testing.assert_allclose(batch[i], single, rtol=1e-4, atol=1e-5)


def test_the_vae_says_it_has_no_posterior_mean(generators):
    with pytest.raises(NotImplementedError, match="not a diffusion model"):
        generators["vae"].posterior_mean(_inputs(generators["vae"], 1), timestep=10)
