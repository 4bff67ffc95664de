"""Descriptors at scale on a local Ray of 2 CPU workers: identical at any worker count and shard size,
resumable, corrupt shards recomputed, bad specs refused."""

import shutil
import tempfile

import numpy as np
import pytest

ray = pytest.importorskip("ray")

# one Ray cluster at a time: `make test` runs every Ray test on the same worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("ray")

from geomlib.core.directions import Polytope  # noqa: E402
from geomlib.tools import scale  # noqa: E402

MODEL = scale.ModelSpec("latent", "smoke", "decoder")  # the random-weight small latent model
INPUTS = scale.InputSpec("prior", 10, seed=3)
SETTINGS = scale.DescriptorSpec(polytope_r=0.05, chunk=4)


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    ray.shutdown()  # whatever an earlier test left running: this module needs exactly 2 CPUs
    # the workers are processes of their own: they get the scratch cache here, not the test's monkeypatch
    cache = str(tmp_path_factory.mktemp("ray-cache"))
    session = tempfile.mkdtemp(prefix="geomlib-ray-")  # short: Ray's socket paths have a length limit
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=128 * 2**20,
        runtime_env={"env_vars": {"GEOMLIB_CACHE": cache}},
        _temp_dir=session,
    )
    yield cache
    ray.shutdown()
    shutil.rmtree(session, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("one-worker")
    summary = scale.run(MODEL, INPUTS, SETTINGS, out, workers=1, shard_size=4, progress=False)
    assert summary.computed == [0, 1, 2]
    return out, scale.load(out)


def test_two_workers_and_another_shard_size_give_the_same_bits(reference, tmp_path):
    _, expected = reference
    scale.run(MODEL, INPUTS, SETTINGS, tmp_path, workers=2, shard_size=3, progress=False)
    got = scale.load(tmp_path)
    np.testing.assert_array_equal(got["index"], np.arange(10))
    for name in ("inputs", "psi", "nu", "delta"):
        np.testing.assert_array_equal(got[name], expected[name])
    assert np.all(np.isfinite(got["psi"])) and np.all(got["nu"] > 0)


def test_a_resumed_run_recomputes_only_missing_or_corrupt_shards(reference):
    out, expected = reference
    (out / "shard-000001.npz").unlink()  # killed before this shard was written
    with pytest.raises(ValueError, match="is incomplete: 6 of 10 inputs on disk"):
        scale.load(out)
    corrupt = out / "shard-000002.npz"
    corrupt.write_bytes(corrupt.read_bytes()[:100])  # a partial file (not from atomic_write, but on disk)
    summary = scale.run(MODEL, INPUTS, SETTINGS, out, workers=2, shard_size=4, progress=False)
    assert summary.computed == [1, 2]
    again = scale.load(out)
    for name in ("inputs", "psi", "nu", "delta"):
        np.testing.assert_array_equal(again[name], expected[name])
    assert scale.run(MODEL, INPUTS, SETTINGS, out, workers=1, shard_size=4, progress=False).computed == []


def test_inputs_depend_on_the_seed_and_index_only():
    generator = scale._Generator(MODEL, INPUTS, SETTINGS)
    together, _ = generator.inputs(np.arange(6))
    apart, _ = generator.inputs(np.array([4, 5]))
    np.testing.assert_array_equal(together[4:], apart)
    noised = scale._Generator(MODEL, scale.InputSpec("noised", 4, seed=1, sampler_steps=10), SETTINGS)
    x, t = noised.inputs(np.arange(4))
    generator.model.scheduler.set_timesteps(10)
    assert set(t) <= set(generator.model.scheduler.timesteps.numpy()) and x.shape == (4, 4, 4, 4)


def test_bad_specs_are_refused_with_one_clear_sentence(reference, tmp_path):
    out, _ = reference
    with pytest.raises(ValueError, match="model family must be one of"):
        scale.run(scale.ModelSpec("gan"), INPUTS, SETTINGS, tmp_path)
    with pytest.raises(ValueError, match="map of the vae model must be one of"):
        scale.run(scale.ModelSpec("vae", map="unet"), INPUTS, SETTINGS, tmp_path)
    with pytest.raises(ValueError, match="noised inputs need a latent model"):
        scale.run(scale.ModelSpec("vae"), scale.InputSpec("noised", 4), SETTINGS, tmp_path)
    with pytest.raises(ValueError, match="descriptors must be a nonempty subset"):
        scale.run(MODEL, INPUTS, scale.DescriptorSpec(descriptors=("rank",)), tmp_path)
    with pytest.raises(ValueError, match="workers=3 exceeds the Ray cluster's 2 CPUs"):
        scale.run(MODEL, INPUTS, SETTINGS, tmp_path / "new", workers=3, progress=False)
    with pytest.raises(ValueError, match="holds a run with other settings"):
        scale.run(MODEL, scale.InputSpec("prior", 11, seed=3), SETTINGS, out, progress=False)


def test_the_toy_ddpm_runs_through_the_jax_backend(tmp_path):
    toy = scale.ModelSpec("toy", "smoke", "eps", timestep=100, condition="dino")
    inputs = scale.InputSpec("prior", 5, seed=2)
    settings = scale.DescriptorSpec(polytope_k=2, polytope_r=0.05, chunk=4)  # a 2D input: k <= 2
    split = scale.run(toy, inputs, settings, tmp_path / "a", workers=2, shard_size=2, progress=False)
    whole = scale.run(toy, inputs, settings, tmp_path / "b", workers=1, shard_size=5, progress=False)
    assert (split.shards, whole.shards) == (3, 1)
    a, b = scale.load(tmp_path / "a"), scale.load(tmp_path / "b")
    for name in ("inputs", "psi", "nu", "delta"):
        np.testing.assert_array_equal(a[name], b[name])
    assert np.all((a["nu"] >= 1) & (a["nu"] <= 2)) and np.all(np.isfinite(a["psi"]))  # effective rank in 2D
    with pytest.raises(ValueError, match=r"condition of a toy model \(its dataset\) must be one of"):
        scale.run(scale.ModelSpec("toy", map="eps"), inputs, settings, tmp_path / "c")


def test_reward_labels_made_on_ray_are_the_decoder_psi_of_their_own_inputs():
    from geomlib import presets
    from geomlib.models.latent_diffusion import load_latent_diffusion
    from geomlib.studies import reward_guidance as rs

    cfg = presets.resolve("reward_guidance", "smoke", label_workers=2)
    sd_cfg = rs.sd_settings("smoke", cfg)
    x_t, t, psi = rs.scaled_reward_data("smoke", sd_cfg, cfg, 6, None, workers=2)
    assert x_t.shape[0] == 6 and len(set(t)) > 1  # real digits noised to several sampler steps
    model = load_latent_diffusion(sd_cfg)
    unused = Polytope(k=4, r=1e-4, seed=0)  # delta is not asked for
    direct = model.geometry(x_t, sketch=None, polytope=unused, descriptors=("psi",)).psi  # no Ray
    np.testing.assert_allclose(psi, direct, rtol=1e-4, atol=1e-5)


def test_the_vae_decoder_on_ray_matches_the_wrapper_in_one_process(tmp_path, local_ray, monkeypatch):
    from geomlib import presets
    from geomlib.models.vae import train_mnist_vae

    spec = scale.ModelSpec("vae", "smoke", "decoder")
    scale.run(
        spec, scale.InputSpec("prior", 5, seed=1), SETTINGS, tmp_path, workers=2, shard_size=2, progress=False
    )
    got = scale.load(tmp_path)
    monkeypatch.setenv("GEOMLIB_CACHE", local_ray)  # the workers' cache: their model, loaded
    vae = train_mnist_vae(presets.resolve("vae_mnist", "smoke"))
    direct = vae.geometry(got["inputs"], polytope=SETTINGS.polytope())
    np.testing.assert_allclose(got["psi"], direct.psi, rtol=1e-5)
    np.testing.assert_allclose(got["nu"], direct.nu, rtol=1e-5)
    np.testing.assert_array_equal(got["delta"], direct.delta)


# --- the command line: the reward-label command, bad options, a worker killed mid-run -------------


def _image_folder(folder):
    """Real images as people have them: RGB and grayscale PNG, RGBA, 16-bit, a JPEG of another shape."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(folder / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (18, 18), np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (16, 16, 4), np.uint8)).save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 2**16, (17, 17), np.uint16)).save(folder / "deep.png")
    Image.fromarray(rng.integers(0, 256, (30, 22, 3), np.uint8)).save(folder / "photo.jpg")
    (folder / "notes.txt").write_text("not an image")  # other files in the folder are ignored
    return folder


@pytest.mark.parametrize("weights", ["small", "tiny saved pipeline"])
def test_the_reward_label_command_reads_an_image_folder_on_two_workers(weights, tmp_path, tiny_sd_folder):
    folder = _image_folder(tmp_path / "images")
    # a pretrained pipeline is sketched (its outputs are large); the small model's Jacobians are exact
    weights, sketch = ("small", []) if weights == "small" else (str(tiny_sd_folder), ["--sketch-k", "8"])

    def command(out, workers, shard):
        return [
            "--family", "latent", "--preset", "smoke", "--map", "decoder", "--weights", weights,
            "--inputs", "noised", "--images", str(folder), "--count", "5", "--sampler-steps", "10",
            "--descriptors", "psi,nu", "--polytope-r", "0.05", "--chunk", "2",
            "--out", str(out), "--workers", str(workers), "--shard-size", str(shard), *sketch,
        ]  # fmt: skip

    scale.main(command(tmp_path / "two", 2, 2))
    two = scale.load(tmp_path / "two")
    if weights == "small":  # the same bits from one worker and one shard (once is enough: the same code)
        scale.main(command(tmp_path / "one", 1, 5))
        one = scale.load(tmp_path / "one")
        for name in ("inputs", "timestep", "psi", "nu"):
            np.testing.assert_array_equal(two[name], one[name])
    assert np.all(np.isfinite(two["psi"])) and np.all(two["nu"] >= 1)
    assert len(np.unique(two["inputs"].reshape(5, -1), axis=0)) == 5  # five different noised latents


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--count", "-5", "input count must be an integer >= 1; got -5"),
        ("--sketch-k", "0", "sketch_k must be an integer >= 1; got 0"),
        ("--polytope-r", "nan", "polytope_r must be a finite number > 0; got nan"),
        ("--images", "no-such-folder", "image_folder 'no-such-folder' does not exist"),
    ],
)
def test_a_bad_option_gets_one_line_and_creates_nothing(
    option, value, message, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = [
        "--family",
        "latent",
        "--preset",
        "smoke",
        "--inputs",
        "noised",
        "--count",
        "4",
        "--out",
        str(out),
    ]
    with pytest.raises(SystemExit) as exit_:
        scale.main([*argv, option, value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and "Traceback" not in "\n".join(error)
    assert not out.exists()


def test_a_killed_worker_is_replaced_and_the_arrays_do_not_change(reference, tmp_path):
    import signal
    import threading
    import time

    import psutil

    _, expected = reference
    errors = []

    def work():
        try:
            scale.run(MODEL, INPUTS, SETTINGS, tmp_path, workers=2, shard_size=1, progress=False)
        except Exception as error:  # reported below
            errors.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("shard-*.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [
        p for p in psutil.process_iter(["cmdline"]) if "_Generator" in " ".join(p.info["cmdline"] or [])
    ]
    assert workers, "no Ray worker process found to kill"
    workers[0].send_signal(signal.SIGKILL)  # mid-run: some shards written, others still to compute
    thread.join(timeout=300)
    assert not errors and not thread.is_alive()
    got = scale.load(tmp_path)
    for name in ("inputs", "psi", "nu", "delta"):
        np.testing.assert_array_equal(got[name], expected[name])


def test_a_models_memory_rule_holds_on_ray_as_in_one_process(monkeypatch):
    """A pretrained pipeline asks for one latent per call and a few sketch rows per VJP
    (``LatentDiffusion.geometry_options``); scale's workers follow it, and the numbers do not move."""
    import geomlib.core.local_geometry as core

    generator = scale._Generator(MODEL, INPUTS, SETTINGS)
    inputs, timesteps = generator.inputs(np.arange(3))
    plain = generator.descriptors(inputs, timesteps)
    seen = []
    original = core.local_geometry

    def recording(*args, **kwargs):
        seen.append({k: kwargs.get(k) for k in ("chunk_size", "row_chunk")})
        return original(*args, **kwargs)

    monkeypatch.setattr(core, "local_geometry", recording)
    monkeypatch.setattr(generator.model, "geometry_options", {"chunk_size": 1, "row_chunk": 2})
    limited = generator.descriptors(inputs, timesteps)
    assert seen and all(call == {"chunk_size": 1, "row_chunk": 2} for call in seen)
    for name in SETTINGS.descriptors:
        np.testing.assert_allclose(limited[name], plain[name], rtol=1e-5)


@pytest.mark.parametrize(
    ("family", "expected_map", "expected_condition"),
    [("toy", "eps", "dino"), ("vae", "decoder", ""), ("latent", "decoder", ""), ("dit", "eps", 0)],
)
def test_the_command_line_gives_each_family_a_valid_map_and_condition_by_default(
    family, expected_map, expected_condition, monkeypatch, tmp_path
):
    seen = {}
    monkeypatch.setattr(scale, "run", lambda model, *args, **kwargs: seen.setdefault("model", model))
    scale.main(["--family", family, "--count", "2", "--out", str(tmp_path / "out")])
    seen["model"].check()  # the defaults pass the checks a run makes before Ray starts
    assert (seen["model"].map, seen["model"].condition) == (expected_map, expected_condition)
