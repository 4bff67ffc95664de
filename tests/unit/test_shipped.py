"""Shipped weights: what `make models` writes is what a `default` run loads, checked against the manifest."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomlib.models import shipped
from geomlib.models.training import TrainSettings, train_with_checkpoints

DATA = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)


def init_params():
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    return {"w1": jax.random.normal(key1, (3, 8)), "w2": jax.random.normal(key2, (8, 3))}


def loss_fn(params, batch, key):
    return jnp.mean((jnp.tanh(batch @ params["w1"]) @ params["w2"] - batch) ** 2)


def run(shipped_weights=False, ema=None):
    settings = TrainSettings(
        steps=40, batch_size=16, learning_rate=1e-2, seed=1, checkpoints=(20, 40), ema=ema
    )
    return train_with_checkpoints(
        "unit",
        {"model": "tanh"},
        init_params(),
        loss_fn,
        DATA,
        settings,
        progress=False,
        shipped=shipped_weights,
    )


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch project root: data/models/ and its manifest live there."""
    monkeypatch.setenv("GEOMLIB_ROOT", str(tmp_path))
    return tmp_path


def ship(trained):
    entries = {}
    for step, params in trained.params.items():
        entries |= shipped.export_checkpoint(
            params, name="unit", digest=trained.run_dir.name, step=step, losses=trained.losses, model="unit"
        )
    shipped.record(entries)
    return entries


def test_shipped_weights_load_as_the_trained_ones_rounded_to_float16(project):
    trained = run()
    entries = ship(trained)
    loaded = run(shipped_weights=True)
    assert sorted(loaded.params) == [20, 40]
    for step in (20, 40):
        for name in ("w1", "w2"):
            expected = np.asarray(trained.params[step][name]).astype(np.float16).astype(np.float32)
            np.testing.assert_array_equal(np.asarray(loaded.params[step][name]), expected)
            assert loaded.params[step][name].dtype == jnp.float32
    manifest = json.loads((project / "data" / "models" / "manifest.json").read_text())["files"]
    assert set(manifest) == set(entries) and all(len(e["sha256"]) == 64 for e in manifest.values())


def test_a_missing_file_names_make_models_and_the_way_to_train_here(project):
    with pytest.raises(shipped.ShippedWeightsMissing, match=r"make models ONLY=unit.*weights='train'"):
        run(shipped_weights=True)


def test_an_altered_file_is_refused_by_its_hash(project):
    trained = run()
    entries = ship(trained)
    path = project / "data" / "models" / sorted(entries)[-1]
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(shipped.ShippedWeightsMissing, match="does not match the hash"):
        run(shipped_weights=True)


def test_with_ema_the_checkpoints_hold_the_moving_average():
    plain, averaged = run(), run(ema=0.9)
    assert plain.run_dir != averaged.run_dir  # the averaging is part of the recipe's hash
    # the average lags the weights: farther from them than the plain run's weights are from themselves
    gap = np.abs(np.asarray(averaged.params[40]["w1"]) - np.asarray(plain.params[40]["w1"])).max()
    assert gap > 1e-4


def test_a_run_killed_between_checkpoints_resumes_from_its_last_save_bit_for_bit(
    scratch_folders, monkeypatch
):
    from geomlib.models import training

    straight = run().params[40]
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache2"))
    calls = {"segments": 0}
    real = training._scanned_segment

    def killed_after_two_segments(*args, **kwargs):
        calls["segments"] += 1
        if calls["segments"] > 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_scanned_segment", killed_after_two_segments)
    settings = TrainSettings(steps=40, batch_size=16, learning_rate=1e-2, seed=1, checkpoints=(20, 40))
    with pytest.raises(KeyboardInterrupt):
        train_with_checkpoints(
            "unit", {"model": "tanh"}, init_params(), loss_fn, DATA, settings, progress=False,
            log_every=5, save_every=0.0,
        )  # fmt: skip
    resume = next((scratch_folders / "cache2" / "unit").glob("*/resume.safetensors"))
    assert shipped.read_metadata(resume)["step"] == 10  # saved after the second segment of 5 steps
    monkeypatch.setattr(training, "_scanned_segment", real)
    resumed = train_with_checkpoints(
        "unit", {"model": "tanh"}, init_params(), loss_fn, DATA, settings, progress=False, log_every=5
    )
    assert not resume.exists()
    for name in straight:
        np.testing.assert_array_equal(np.asarray(resumed.params[40][name]), np.asarray(straight[name]))


# --- the weights this repository ships ----------------------------------------------------------------

REPOSITORY_MODELS = Path(__file__).resolve().parents[2] / "data" / "models"


def test_every_shipped_file_is_in_the_manifest_with_its_own_hash_and_the_facts_it_owes_a_reader():
    """data/models/ as committed: each file listed with the SHA-256 of its bytes, its recipe hash (the
    folder it sits in), steps, training time and the gate score of those weights; no file unlisted."""
    manifest_file = REPOSITORY_MODELS / "manifest.json"
    if not manifest_file.exists():
        pytest.skip("no weights shipped yet")
    listed = json.loads(manifest_file.read_text())["files"]
    on_disk = {
        p.relative_to(REPOSITORY_MODELS).as_posix()
        for p in REPOSITORY_MODELS.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert on_disk == set(listed), (
        f"unlisted: {sorted(on_disk - set(listed))}; missing: {sorted(set(listed) - on_disk)}"
    )
    for relative, entry in listed.items():
        assert shipped.file_sha256(REPOSITORY_MODELS / relative) == entry["sha256"], relative
        assert entry["recipe"] in relative.split("/"), relative
        assert {"steps", "training_seconds", "model", "made"} <= set(entry), relative
        assert isinstance(entry["gate"]["passed"], bool), relative


def test_shipped_weights_stay_within_the_size_the_project_promises():
    """About 60 MB at most in all (#41): the repository stays cheap to clone."""
    size = sum(p.stat().st_size for p in REPOSITORY_MODELS.rglob("*") if p.is_file())
    assert size <= 60 * 2**20, f"data/models holds {size / 2**20:.1f} MiB"
