"""``make gpu-check``: says so on a machine without a GPU; every step runs (tiny models, on the CPU); the
published configurations have the published sizes."""

import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_says_so_in_one_line_and_exits(capsys):
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no CUDA GPU" in out[0]


def test_every_step_runs_on_tiny_models_each_built_just_before_its_check_and_freed_after(capsys, monkeypatch):
    """Every step runs. On the CPU a step's peak is the process's resident memory, so a model still
    alive (or built ahead) would be counted in every other model's steps (4.3 GiB in SD's at the
    published sizes): building one while an earlier one is alive fails here."""
    alive = []

    def recorded(builder):
        def build():
            assert all(ref() is None for ref in alive), "an earlier model is still in memory"
            model = builder()
            alive.append(weakref.ref(model))
            return model

        return build

    for module, name in ((gpu_check.tiny_pipelines, "stable_diffusion"), (gpu_check.tiny_pipelines, "dit"),
                         (gpu_check, "tiny_clip")):  # fmt: skip
        monkeypatch.setattr(module, name, recorded(getattr(module, name)))
    assert gpu_check.main(["--tiny", "--device", "cpu", "--k", "4", "--count", "2"]) == 0
    assert len(alive) == 3 and all(ref() is None for ref in alive)
    out = capsys.readouterr().out
    for step in (
        "SD         sampling",
        "SD         decoder: psi + nu (sketch k = 4, 4 rows a VJP call)",  # the notebooks' setting
        "SD         decoder: delta",
        "SD         UNet, guidance 7.5: psi + nu",
        "SD         UNet, guidance 7.5: delta",
        "DiT        sampling",
        "DiT        transformer, t = 0: psi + nu",
        "DiT        transformer, t = 0: delta",
        "aesthetic  CLIP ViT embedding",
    ):
        assert step in out, step
    assert "TF32" not in out  # a GPU format: the CPU has nothing to compare


def test_descriptors_are_taken_at_latents_of_each_map_s_shape(monkeypatch):
    """The decoder and UNet at SD's latents, the DiT's transformer at its latents (DiTPipeline always
    decodes: its images are not the transformer's inputs)."""
    from geomlib.pipelines import tiny as tiny_pipelines

    seen = []
    real = gpu_check.local_geometry

    def recording(fn, zs, **kwargs):
        seen.append(tuple(np.shape(zs)))
        return real(fn, zs, **kwargs)

    monkeypatch.setattr(gpu_check, "local_geometry", recording)
    sd, dit = tiny_pipelines.stable_diffusion(), tiny_pipelines.dit()
    assert (
        gpu_check.main(["--tiny", "--device", "cpu", "--k", "2", "--count", "2", "--models", "sd", "dit"])
        == 0
    )
    unet, transformer = sd.unet.config, dit.transformer.config
    sd_latents = (2, unet.in_channels, unet.sample_size, unet.sample_size)
    dit_latents = (2, transformer.in_channels, transformer.sample_size, transformer.sample_size)
    assert seen == [sd_latents] * 4 + [dit_latents] * 2  # psi + nu, delta: decoder, UNet; DiT


def test_without_a_reset_the_cpu_peak_is_not_reported(monkeypatch):
    """Where the peak cannot be reset (no /proc/self/clear_refs), the process's peak would include every
    earlier step: the step's memory is reported as unknown instead."""
    monkeypatch.setattr(gpu_check, "_reset_resident_peak", lambda: False)
    meter = gpu_check.Meter(torch.device("cpu"))
    meter.run("m", "step", 1, lambda: None)
    assert np.isnan(meter.rows[0]["peak GiB"])


def test_models_can_be_checked_one_at_a_time(capsys):
    assert gpu_check.main(["--tiny", "--device", "cpu", "--k", "2", "--count", "1", "--models", "dit"]) == 0
    out = capsys.readouterr().out
    assert "DiT        transformer, t = 0: psi + nu" in out
    assert "SD " not in out and "aesthetic " not in out and "UNet" not in out


def test_rows_per_vjp_call_can_be_lowered_for_a_smaller_gpu(capsys):
    argv = ["--tiny", "--device", "cpu", "--k", "4", "--count", "1", "--models", "sd", "--row-chunk", "1"]
    assert gpu_check.main(argv) == 0
    out = capsys.readouterr().out
    assert "UNet, guidance 7.5: psi + nu (sketch k = 4, 1 row a VJP call)" in out


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux reports resident memory")
def test_on_the_cpu_peak_memory_is_the_step_s_own():
    """A step that holds 512 MiB reads at least that much above the resident memory before it; a later
    small step does not inherit the earlier peak (the peak is reset before each step)."""
    meter = gpu_check.Meter(torch.device("cpu"))
    gpu_check._reset_resident_peak()
    before = gpu_check._resident_peak_gib()  # the resident memory now
    meter.run("m", "large", 1, lambda: np.ones(2**26).sum())  # 2**26 float64: 512 MiB
    meter.run("m", "small", 1, lambda: np.ones(2**10).sum())
    large, small = (row["peak GiB"] for row in meter.rows)
    assert large >= before + 0.5 * 0.95
    assert small < large - 0.4


def test_local_geometry_turns_tf32_off_unless_allowed():
    """What the model sees while local_geometry runs: TF32 off unless ``allow_tf32=True`` (the check's
    second delta), and the global setting restored after either way."""
    import numpy as np

    from geomlib import Polytope, local_geometry

    seen = []

    class Recording(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.backends.cuda.matmul.allow_tf32)
            return torch.nn.functional.relu(x)

    before = torch.backends.cuda.matmul.allow_tf32
    x = np.ones((1, 3), np.float32)
    for allowed in (False, True):
        seen.clear()
        local_geometry(
            Recording(),
            x,
            polytope=Polytope(k=1, r=0.1),
            descriptors=("delta",),
            progress=False,
            allow_tf32=allowed,
        )
        assert seen and all(flag == allowed for flag in seen)
        assert torch.backends.cuda.matmul.allow_tf32 == before
    with pytest.raises(TypeError, match="allow_tf32 must be True or False"):
        local_geometry(Recording(), x, progress=False, allow_tf32="yes")


def test_the_published_configurations_have_the_published_sizes():
    """SD 1.4's UNet 859,520,964 and VAE 83,653,863 parameters, CLIP ViT-L/14's vision tower with its
    projection 303,966,208 (the released checkpoints' counts); DiT-XL/2's published shape. Built on the
    meta device: no memory, no weights."""
    with torch.device("meta"):
        sd, dit, vision = gpu_check.sd14_pipeline(), gpu_check.dit_xl2_pipeline(), gpu_check.clip_vit_l14()
    assert gpu_check.parameter_count(sd.unet) == 859_520_964
    assert gpu_check.parameter_count(sd.vae) == 83_653_863
    assert gpu_check.parameter_count(vision) == 303_966_208
    config = dit.transformer.config
    hidden = config.num_attention_heads * config.attention_head_dim
    assert (hidden, config.num_layers, config.patch_size, config.num_embeds_ada_norm) == (1152, 28, 2, 1000)
    assert (config.sample_size, config.in_channels, config.out_channels) == (32, 4, 8)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--k", "0"], "--k: must be a whole number >= 1"),
        (["--device", "tpu"], "--device: invalid choice"),
        (["--models", "flux"], "--models: invalid choice"),
    ],
)
def test_bad_options_are_named_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux reports resident memory")
def test_memory_an_earlier_step_freed_is_not_counted_in_the_next():
    """glibc keeps memory freed in a worker thread's arena resident; the next step's peak, reset to the
    resident memory before it, would then count it (measured: 1.3 GiB after DiT-XL/2's steps)."""

    def free_in_a_thread():
        def work():
            np.ones(
                2**22
            ).sum()  # a freed 32 MiB block raises glibc's mmap threshold: the next go on the heap
            pieces = [np.ones(2**14 + i) for i in range(8000)]  # about 1.2 GiB in 128 KiB pieces
            kept.append(pieces[-1])  # the top of the arena stays in use: free() cannot trim it back

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()

    kept = []
    meter = gpu_check.Meter(torch.device("cpu"))
    meter.run("m", "frees 1.2 GiB in a thread", 1, free_in_a_thread)
    gpu_check._reset_resident_peak()
    before = gpu_check._resident_peak_gib()
    meter.run("m", "small", 1, lambda: np.ones(2**10).sum())
    assert meter.rows[1]["peak GiB"] < min(before, meter.rows[0]["peak GiB"]) - 0.8
