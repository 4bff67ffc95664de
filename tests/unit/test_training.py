"""Checkpoints: resumed training equals uninterrupted training; mismatches and interruptions are handled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomlib.core import seeds
from geomlib.io import atomic_write
from geomlib.models.checkpoints import CheckpointMismatch, load_checkpoint, save_checkpoint
from geomlib.models.training import TrainSettings, train_with_checkpoints

DATA = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)


def init_params(width=8):
    key1, key2 = jax.random.split(jax.random.PRNGKey(0))
    return {"w1": jax.random.normal(key1, (3, width)), "w2": jax.random.normal(key2, (width, 3))}


def loss_fn(params, batch, key):
    noise = 0.1 * jax.random.normal(key, batch.shape)
    recon = jnp.tanh((batch + noise) @ params["w1"]) @ params["w2"]
    return jnp.mean((recon - batch) ** 2)


def train(steps, checkpoints, **kwargs):
    settings = TrainSettings(steps=steps, batch_size=16, learning_rate=1e-2, seed=1, checkpoints=checkpoints)
    return train_with_checkpoints(
        "unit", {"model": "tanh-ae"}, init_params(), loss_fn, DATA, settings, progress=False, **kwargs
    )


def test_training_lowers_the_loss_and_saves_every_checkpoint():
    run = train(60, (20, 60))
    assert sorted(run.params) == [20, 60]
    assert len(run.losses) == 60
    assert run.losses[-10:].mean() < run.losses[:10].mean()
    assert sorted(p.name for p in run.run_dir.glob("step_*")) == [
        "step_0000020.safetensors",
        "step_0000060.safetensors",
    ]


def test_resuming_after_an_interruption_gives_the_same_parameters(scratch_folders, monkeypatch):
    straight = train(60, (20, 60)).params[60]
    # Start over in a fresh cache, stop after the first checkpoint, then run again.
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache2"))
    train(20, (20,))
    resumed = train(60, (20, 60), log_every=7)  # other segment lengths too
    for name in straight:
        np.testing.assert_array_equal(np.asarray(resumed.params[60][name]), np.asarray(straight[name]))


def test_finished_checkpoints_are_loaded_not_retrained():
    run = train(30, (30,))
    stamp = (run.run_dir / "step_0000030.safetensors").stat().st_mtime_ns
    again = train(30, (30,))
    assert (again.run_dir / "step_0000030.safetensors").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again.losses, run.losses)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, init_params(width=8), metadata={"config_hash": "abc"})
    with pytest.raises(CheckpointMismatch, match=r"\['w1'\] has shape \(3, 8\), expected \(3, 4\)"):
        load_checkpoint(path, init_params(width=4))
    with pytest.raises(CheckpointMismatch, match="config_hash='abc' but the config needs 'xyz'"):
        load_checkpoint(path, init_params(width=8), expect={"config_hash": "xyz"})
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors", init_params())


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "figure.png"
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as tmp:
        tmp.write_bytes(b"half a figure")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(checkpoints=(10, 5)), "checkpoints"),
        (dict(checkpoints=(10,)), "checkpoints"),
        (dict(learning_rate=0.0), "learning_rate"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, match):
    base = dict(steps=20, batch_size=4, learning_rate=1e-3, seed=0, checkpoints=(20,))
    with pytest.raises(ValueError, match=match):
        TrainSettings(**{**base, **kwargs})


def test_a_python_loop_of_steps_trains_as_the_scan_does(scratch_folders, monkeypatch):
    scanned = train(40, (40,))
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache-loop"))
    looped = train(40, (40,), scan=False)
    np.testing.assert_allclose(looped.losses, scanned.losses, rtol=1e-5)
    for name in scanned.params[40]:
        np.testing.assert_allclose(
            np.asarray(looped.params[40][name]), np.asarray(scanned.params[40][name]), rtol=1e-5, atol=1e-6
        )


def test_a_damaged_cached_checkpoint_is_recomputed_with_a_warning():
    run = train(30, (10, 30))
    expected = {k: np.asarray(v) for k, v in run.params[30].items()}
    final = run.run_dir / "step_0000030.safetensors"
    final.write_bytes(final.read_bytes()[:200])  # a copy cut short
    with pytest.warns(UserWarning, match=r"step_0000030.safetensors is damaged .*removed and recomputed"):
        again = train(30, (10, 30))  # resumes from step 10, which still reads
    for name, value in expected.items():
        np.testing.assert_array_equal(np.asarray(again.params[30][name]), value)


def test_a_damaged_torch_checkpoint_is_retrained_with_a_warning(tmp_path):
    import torch

    from geomlib.models.torch_training import train_resumable

    def fit(run_dir):
        torch.manual_seed(0)
        module = torch.nn.Linear(3, 1)
        target = torch.ones(8, 1)
        train_resumable(
            {"m": module},
            lambda step: ((module(torch.randn(8, 3)) - target) ** 2).mean(),
            steps=5,
            learning_rate=0.1,
            seed=0,
            run_dir=run_dir,
        )
        return module.weight.detach().clone()

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = fit(run_dir)
    final = run_dir / "final.pt"
    final.write_bytes(final.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"final.pt is damaged .*removed and recomputed"):
        again = fit(run_dir)
    torch.testing.assert_close(again, first, rtol=0, atol=0)


def _trained(seed, data, loss):
    settings = TrainSettings(steps=30, batch_size=16, learning_rate=1e-2, seed=seed, checkpoints=(30,))
    return train_with_checkpoints(
        "unit", {"model": "tanh-ae"}, init_params(), loss, data, settings, progress=False
    )


def test_runs_that_share_a_loss_function_train_as_each_would_alone(scratch_folders, monkeypatch):
    # One compiled step serves both runs (same loss object, same data shape): their seeds and
    # data must still be their own, bit for bit, against runs compiled each for itself.
    other_data = np.ascontiguousarray(DATA[::-1] * 2.0)
    shared = [_trained(1, DATA, loss_fn), _trained(2, other_data, loss_fn)]
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache-alone"))
    alone = [
        _trained(1, DATA, lambda *args: loss_fn(*args)),  # a new function object: its own compilation
        _trained(2, other_data, lambda *args: loss_fn(*args)),
    ]
    for run, reference in zip(shared, alone, strict=True):
        np.testing.assert_array_equal(run.losses, reference.losses)
        for name in reference.params[30]:
            np.testing.assert_array_equal(
                np.asarray(run.params[30][name]), np.asarray(reference.params[30][name])
            )
    assert not np.array_equal(shared[0].losses, shared[1].losses)


def test_another_loss_function_with_the_same_config_is_compiled_for_itself(scratch_folders, monkeypatch):
    def noisier_loss(params, batch, key):
        noise = 0.5 * jax.random.normal(key, batch.shape)
        return jnp.mean((jnp.tanh((batch + noise) @ params["w1"]) @ params["w2"] - batch) ** 2)

    first = _trained(1, DATA, loss_fn)
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache-noisier"))
    noisier = _trained(1, DATA, noisier_loss)
    params = init_params()
    batch_key, loss_key = jax.random.split(jax.random.fold_in(seeds.jax_key(1, "minibatches"), 0))
    batch = DATA[np.asarray(jax.random.randint(batch_key, (16,), 0, len(DATA)))]
    np.testing.assert_allclose(noisier.losses[0], noisier_loss(params, batch, loss_key), rtol=1e-6)
    assert abs(noisier.losses[0] - first.losses[0]) > 1e-3
