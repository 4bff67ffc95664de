"""Reward model, reward guidance and the per-bin evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from geomlib import presets
from geomlib.data import dreambooth_prompts, read_prompts
from geomlib.methods import reward_eval
from geomlib.methods.metrics import mixture_log_density, rbf_vendi
from geomlib.models import reward
from geomlib.models.diffusion import DDPMSchedule, sample
from geomlib.models.latent_diffusion import load_latent_diffusion, pretrained_latent_diffusion
from geomlib.studies import reward_guidance

FITS = {"jax": reward.fit_reward, "torch": reward.fit_torch_reward}


@pytest.mark.parametrize("backend", sorted(FITS))
def test_reward_model_learns_a_known_function_of_input_and_timestep(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 3)).astype(np.float32)
    t = rng.integers(0, 1000, 4000)
    truth = np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 - t / 500

    fit = FITS[backend](
        x[:3000], t[:3000], truth[:3000], hidden=64, depth=2, steps=1500, learning_rate=3e-3, seed=0
    )
    table = reward_eval.reward_quality_table({3000: fit}, x[3000:], t[3000:], truth[3000:])
    assert table.loc[3000, "R2"] > 0.95 and table.loc[3000, "spearman"] > 0.97


@pytest.mark.parametrize("backend", sorted(FITS))
def test_reward_gradient_matches_finite_differences(backend):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 2, 2)).astype(np.float32)
    fit = FITS[backend](
        x, np.full(200, 7), rng.standard_normal(200), hidden=16, depth=2, steps=50, learning_rate=1e-2, seed=0
    )
    probe = rng.standard_normal((3, 2, 2)).astype(np.float64)
    grad = fit.gradient(probe, 7)
    h = 1e-2
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        e = e.reshape(2, 2)
        numeric = (fit(probe + e, 7) - fit(probe - e, 7)) / (2 * h)
        np.testing.assert_allclose(grad.reshape(3, 4)[:, i], numeric, rtol=2e-2, atol=2e-3)


def test_torch_timestep_embedding_equals_the_jax_one():
    from geomlib.models.mlp_denoiser import timestep_embedding

    t = np.array([0, 1, 17, 500, 999])
    np.testing.assert_allclose(
        reward.torch_timestep_embedding(torch.as_tensor(t), 32).numpy(),
        np.asarray(timestep_embedding(jnp.asarray(t), 32)),
        rtol=1e-5,
        atol=1e-4,  # float32 sin/cos of angles up to 999 rad
    )


def test_torch_reward_gradient_works_inside_no_grad_samplers():
    rng = np.random.default_rng(2)
    fit = reward.fit_torch_reward(
        rng.standard_normal((50, 4)),
        np.zeros(50),
        rng.standard_normal(50),
        hidden=8,
        depth=1,
        steps=5,
        learning_rate=1e-2,
        seed=0,
    )
    with torch.no_grad():
        grad = fit.gradient(np.ones((2, 4)), 0)
    assert grad.shape == (2, 4) and np.any(grad != 0)


@pytest.mark.parametrize("backend", sorted(FITS))
def test_infinite_psi_labels_are_refused(backend):
    with pytest.raises(ValueError, match="psi labels must be finite"):
        FITS[backend](
            np.zeros((3, 2)),
            np.zeros(3),
            np.array([0, -np.inf, 1]),
            hidden=4,
            depth=1,
            steps=1,
            learning_rate=1e-3,
            seed=0,
        )


def test_guidance_with_a_linear_reward_moves_samples_along_its_gradient():
    """r(x) = g.x: guidance adds s * g to the score, so samples shift along g; s = 0 changes nothing."""
    schedule = DDPMSchedule(num_steps=50)

    def apply_fn(params, x, t):  # the exact noise prediction for N(0, I) data: eps = sqrt(1 - abar) x
        abar = jnp.asarray(schedule.alpha_bars, jnp.float32)[t][:, None]
        return jnp.sqrt(1 - abar) * x

    direction = jnp.array([1.0, -2.0])
    key = jax.random.PRNGKey(0)

    def constant(x, t):
        return jnp.broadcast_to(direction, x.shape)

    plain = sample(apply_fn, None, schedule, 2000, 2, key)
    zero, guided = (
        sample(apply_fn, None, schedule, 2000, 2, key, guidance=constant, scale=s) for s in (0.0, 0.5)
    )
    np.testing.assert_allclose(zero, plain, rtol=1e-6)
    shift = (guided - plain).mean(0)
    assert shift @ np.asarray(direction) > 0
    np.testing.assert_allclose(
        shift / np.linalg.norm(shift), direction / jnp.linalg.norm(direction), atol=0.02
    )


def test_unguided_sampler_equals_the_diffusers_pipeline():
    """Our sampler without a reward reproduces StableDiffusionPipeline's own sampling from the same noise."""
    model = load_latent_diffusion(presets.resolve("stable_diffusion", "smoke"))
    prompts = ["a one", "a seven"]
    ours = model.sample(prompts, seed=2, steps=4, guidance=3.0)
    noise = model.seeded_noise(2, range(2))  # the loop is under test here, not where its noise comes from
    with torch.no_grad():
        pipeline = model.pipe(
            prompt_embeds=model.embed(prompts),
            negative_prompt_embeds=model.embed(["", ""]),
            guidance_scale=3.0,
            num_inference_steps=4,
            latents=noise,
            output_type="latent",
        ).images.numpy()
    np.testing.assert_allclose(ours, pipeline, rtol=1e-4, atol=1e-5)
    zero = model.sample(
        prompts, seed=2, steps=4, guidance=3.0, reward_gradient=np.ones_like, reward_scale=0.0
    )
    np.testing.assert_array_equal(zero, ours)
    moved = model.sample(
        prompts, seed=2, steps=4, guidance=3.0, reward_gradient=lambda x, t: np.ones_like(x), reward_scale=1.0
    )
    assert not np.allclose(moved, ours)


def test_bin_effects_of_a_known_shift():
    rng = np.random.default_rng(3)
    before = rng.uniform(0, 10, 300)
    features = rng.standard_normal((300, 4))
    effects = reward_eval.guidance_effects(
        before,
        {1.0: before + 2.0, 2.0: before + 3.0 * (before < 5)},
        features,
        {1.0: features, 2.0: features},
        np.zeros(300),
        {1.0: np.ones(300), 2.0: np.zeros(300)},
        vendi=lambda f: float(len(f)),
        bins=4,
        seed=0,
        resamples=20,
    )
    one = effects[effects.scale == 1.0]
    np.testing.assert_allclose(one["dpsi mean"], 2.0)
    np.testing.assert_allclose(one["dpsi low"], 2.0)
    np.testing.assert_allclose(one["dquality mean"], 1.0)
    np.testing.assert_allclose(one["dvendi mean"], 0.0)
    assert one["count"].sum() == 300
    best = reward_eval.best_scale_per_bin(effects)
    assert list(best["scale"]) == [2.0, 2.0, 1.0, 1.0]  # +3 where psi < 5, otherwise +2 is best


def test_mixture_log_density_matches_scipy():
    modes = np.array([[0.0, 0.0], [4.0, 1.0], [-2.0, 3.0]])
    points = np.random.default_rng(4).standard_normal((6, 2)) * 3
    expected = logsumexp(
        [stats.multivariate_normal(m, 0.25 * np.eye(2)).logpdf(points) for m in modes], axis=0
    ) - np.log(3)
    np.testing.assert_allclose(mixture_log_density(points, modes, 0.5), expected, rtol=1e-10)


def test_rbf_vendi_counts_separated_clusters():
    one = np.zeros((10, 2))
    two = np.concatenate([np.zeros((5, 2)), np.full((5, 2), 100.0)])
    assert rbf_vendi(one, 0.5) == pytest.approx(1.0)
    assert rbf_vendi(two, 0.5) == pytest.approx(2.0)


def test_dit_sampler_guidance_is_off_at_scale_zero_and_on_otherwise():
    from geomlib.models.dit import load_dit

    dit = load_dit(presets.resolve("dit", "smoke"))
    labels = np.array([0, 1])
    plain = dit.sample(labels, seed=1, steps=3, guidance=2.0)

    def ones(x, t):
        return np.ones_like(x)

    zero = dit.sample(labels, seed=1, steps=3, guidance=2.0, reward_gradient=ones, reward_scale=0.0)
    moved = dit.sample(labels, seed=1, steps=3, guidance=2.0, reward_gradient=ones, reward_scale=1.0)
    np.testing.assert_array_equal(zero, plain)
    assert (moved - plain).mean() > 0  # pushed along the (all-ones) reward gradient


def test_pretrained_dit_is_refused_by_name_before_any_work():
    cfg = presets.resolve("reward_guidance", "smoke")
    with pytest.raises(NotImplementedError, match="set dit_model=False"):
        reward_guidance.check_image_inputs("paper", cfg)
    with pytest.raises(NotImplementedError, match="set dit_model=False"):
        reward_guidance.dit_guidance(presets.resolve("dit", "paper"), cfg)


def test_paper_inputs_are_checked_by_name_from_the_project_root(tmp_path):
    """The shipped prompts file is found from the project root; the images folder is not shipped."""
    cfg = presets.resolve("reward_guidance", "paper", dit_model=False)
    with pytest.raises(FileNotFoundError, match="image_folder"):
        reward_guidance.check_image_inputs("paper", cfg)
    missing = presets.resolve("reward_guidance", "paper", dit_model=False, aesthetic_head=None)
    with pytest.raises(ValueError, match="aesthetic_head"):
        reward_guidance.check_image_inputs("paper", missing)
    absent = presets.resolve(
        "reward_guidance", "paper", dit_model=False, prompts_file=str(tmp_path / "none.txt")
    )
    with pytest.raises(FileNotFoundError, match="prompts_file"):
        reward_guidance.check_image_inputs("paper", absent)


def test_shipped_prompts_are_the_dreambooth_templates_over_the_imagewoof_classes():
    prompts = read_prompts(presets.resolve("reward_guidance", "paper").prompts_file)
    assert prompts == dreambooth_prompts()
    assert len(set(prompts)) == 25 * 10
    assert "a beagle wearing a santa hat" in prompts and "an English foxhound in the snow" in prompts


def _image_folder(folder, count, seed=0):
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):  # not square, so the centre crop matters
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_pretrained_sampler_encodes_prompts_as_the_diffusers_pipeline_does(tiny_sd_folder):
    """Unguided, our DDIM loop with our prompt embedder equals StableDiffusionPipeline given the strings."""
    model = pretrained_latent_diffusion(str(tiny_sd_folder), allow_download=False, device="cpu")
    prompts = ["a beagle in the snow", "a wet dingo", "a red Samoyed"]
    ours = model.sample(prompts, seed=3, steps=4, guidance=5.0, batch=2)
    noise = model.seeded_noise(3, range(3))
    with torch.no_grad():
        theirs = model.pipe(
            prompt=prompts, guidance_scale=5.0, num_inference_steps=4, latents=noise, output_type="latent"
        ).images.numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def _tiny_paper_sd(folder):
    """The Stable Diffusion `paper` settings on the tiny saved pipeline, with few steps."""
    return presets.resolve(
        "stable_diffusion",
        "paper",
        sd_model=str(folder),
        allow_download=False,
        sample_steps=3,
        polytope_r=0.05,
    )


def _paper_reward_settings(folder, prompts: str, images: int, clip, head, **overrides):
    """Smoke reward settings with `paper`-style inputs written into ``folder``, and, as in `paper`, no
    exact-label comparison (on the pretrained decoder it is the full Jacobian per latent)."""
    prompts_file = folder / "prompts.txt"
    prompts_file.write_text(prompts)
    return presets.resolve(
        "reward_guidance",
        "smoke",
        compare_exact_labels=False,
        prompts_file=str(prompts_file),
        image_folder=str(_image_folder(folder / "images", images)),
        aesthetic_clip=str(clip),
        aesthetic_head=str(head),
        **overrides,
    )


def test_paper_path_runs_end_to_end_on_a_saved_tiny_pipeline(
    tiny_sd_folder, tiny_clip_folder, tiny_aesthetic_head, tmp_path
):
    """SD-style pipeline folder, image folder, prompts file and aesthetic predictor, as in `paper`."""
    from geomlib.models.aesthetic import load_aesthetic_predictor

    sd_cfg = _tiny_paper_sd(tiny_sd_folder)
    prompts = "# two prompts\na beagle in the snow\na wet dingo\n"
    cfg = _paper_reward_settings(
        tmp_path, prompts, 32, tiny_clip_folder, tiny_aesthetic_head, image_samples=5, image_batch=2
    )
    study = reward_guidance.latent_diffusion_guidance(sd_cfg, cfg, preset="paper")

    assert study.images[0.0].shape == (5, 16, 16, 3) and set(study.images) == {0.0, 3.0}
    assert "aesthetic" in study.quality_name
    assert list(study.reward_table.index) == [10, 20]
    # the baseline's quality is the aesthetic predictor on the pipeline's own samples
    model = pretrained_latent_diffusion(str(tiny_sd_folder), allow_download=False, device="cpu")
    conditions = ["a beagle in the snow", "a wet dingo"] * 3
    baseline = model.decode(
        model.sample(conditions[:5], seed=cfg.seed, steps=sd_cfg.sample_steps, guidance=3.0)
    )
    scores = load_aesthetic_predictor(str(tiny_clip_folder), str(tiny_aesthetic_head), "cpu").scores(baseline)
    np.testing.assert_allclose(study.overall.loc[0.0, "mean quality"], scores.mean(), rtol=1e-4)


@pytest.mark.xdist_group("ray")  # one Ray cluster at a time (test_scale.py)
def test_paper_path_labels_its_reward_data_on_ray(
    tiny_sd_folder, tiny_clip_folder, tiny_aesthetic_head, tmp_path
):
    """label_workers: the reward data come from geomlib.tools.scale (2 local workers), shards in the cache."""
    import json

    from geomlib.io import cache_dir

    sd_cfg = _tiny_paper_sd(tiny_sd_folder)
    cfg = _paper_reward_settings(
        tmp_path, "a beagle\n", 32, tiny_clip_folder, tiny_aesthetic_head, image_samples=3, label_workers=2
    )
    ray = pytest.importorskip("ray")
    ray.shutdown()  # whatever an earlier test left running: scale.run starts and stops its own
    study = reward_guidance.latent_diffusion_guidance(sd_cfg, cfg, preset="paper")
    assert not ray.is_initialized()
    assert list(study.reward_table.index) == [10, 20]
    runs = sorted((cache_dir() / "reward_labels").glob("*/settings.json"))
    recorded = [json.loads(path.read_text()) for path in runs]
    assert any(r["model"]["weights"] == str(tiny_sd_folder) and r["inputs"]["count"] == 30 for r in recorded)


def test_too_few_real_images_are_reported_with_the_number_needed(
    tiny_sd_folder, tiny_clip_folder, tiny_aesthetic_head, tmp_path
):
    sd_cfg = _tiny_paper_sd(tiny_sd_folder)
    cfg = _paper_reward_settings(tmp_path, "a beagle\n", 7, tiny_clip_folder, tiny_aesthetic_head)
    with pytest.raises(ValueError, match="image_folder holds 7 images; the reward data need 30"):
        reward_guidance.latent_diffusion_guidance(sd_cfg, cfg, preset="paper")


def test_sd_model_of_the_reward_notebook_overrides_the_stable_diffusion_preset(tmp_path):
    plain = presets.resolve("reward_guidance", "paper")
    assert reward_guidance.sd_settings("paper", plain).sd_model == "CompVis/stable-diffusion-v1-4"
    local = presets.resolve("reward_guidance", "paper", sd_model=str(tmp_path))
    assert reward_guidance.sd_settings("paper", local).sd_model == str(tmp_path)
    assert reward_guidance.sd_settings("default", plain).sd_model == "small"


def test_shuffled_labels_keep_each_levels_values_and_drop_their_order():
    rng = np.random.default_rng(3)
    t = np.repeat([10, 500, 900], 50)
    psi = rng.standard_normal(150) + t / 100
    shuffled = reward_eval.shuffled_within_levels(psi, t, seed=0)
    for level in (10, 500, 900):
        np.testing.assert_array_equal(np.sort(shuffled[t == level]), np.sort(psi[t == level]))
    assert abs(stats.spearmanr(shuffled, psi).statistic - stats.spearmanr(t, psi).statistic) < 0.3
    assert not np.array_equal(shuffled, psi)


def test_control_column_is_the_per_bin_mean_change_at_each_bins_scale():
    """Against bins made here with np.digitize; an unrelated redraw shows regression to the mean."""
    rng = np.random.default_rng(4)
    signal = rng.standard_normal(3000)
    before = signal + rng.standard_normal(3000)
    redraw = signal + rng.standard_normal(3000)  # a perturbation that knows nothing about the bins
    best = pd.DataFrame({"bin": [0, 2, 4], "scale": [1.0, 2.0, 1.0]})
    out = reward_eval.with_control(best, before, {1.0: redraw, 2.0: before + 0.5}, bins=5)

    edges = np.linspace(before.min(), before.max(), 6)
    index = np.clip(np.digitize(before, edges) - 1, 0, 4)
    expected_low = np.mean(redraw[index == 0] - before[index == 0])
    np.testing.assert_allclose(out.loc[0, "control dpsi mean"], expected_low, rtol=1e-12)
    np.testing.assert_allclose(out.loc[1, "control dpsi mean"], 0.5, rtol=1e-12)
    assert expected_low > 1 and out.loc[2, "control dpsi mean"] < -1  # up in the lowest bin, down in the top


def test_a_model_that_fails_its_quality_gate_gets_only_inconclusive_rows():
    """The same per-bin changes (psi up in all 10 bins) give 'reproduced' on a model that passes its gate
    and 'inconclusive' on one that fails it, or whose reward predicts held-out psi no better than their
    mean (R^2 <= 0), with the numbers still printed; the ledger applies the gates (ledger.gated)."""
    from geomlib.methods.quality import ClassGate
    from geomlib.studies.reward_guidance import claims, reward_gates
    from geomlib.tools.ledger import INCONCLUSIVE, REPRODUCED, gated

    bins = np.arange(10)
    best = pd.DataFrame({"bin": bins})
    for column in ("excess dpsi", "dvendi", "dquality"):
        best[f"{column} mean"] = 1.0 + bins[::-1] * 0.1
        best[f"{column} low"], best[f"{column} high"] = 0.5, 2.0
    passing = ClassGate(0.95, 0.9, 0.9, 0.85, 200, 0.9)
    failing = ClassGate(0.70, 0.6, 0.9, 0.85, 200, 0.9)
    fits, misfits = pd.DataFrame({"R2": [0.3]}), pd.DataFrame({"R2": [-0.4]})
    cfg = presets.resolve("reward_guidance", "smoke")
    results = {name: (best, name, "q", None) for name in ("good", "bad", "misfit")}
    gates = reward_gates("good", fits, passing) | reward_gates("bad", fits, failing)
    gates |= reward_gates("misfit", misfits, passing)
    by_id = {v.claim.key: v for v in gated(claims(results, cfg), gates)}
    assert by_id["guidance_raises_psi_in_most_bins_good"].verdict == REPRODUCED
    for name, reason in (("bad", "bad model fails"), ("misfit", "misfit reward fails")):
        rows = [v for key, v in by_id.items() if key.endswith(f"_{name}")]
        assert len(rows) == 6 and all(v.verdict == INCONCLUSIVE for v in rows)
        assert (
            f"{reason} the quality gate (reproduced otherwise)"
            in by_id[f"guidance_raises_psi_in_most_bins_{name}"].value
        )


def test_the_plan_counts_the_dit_studys_inputs_and_cached_calls(scratch_folders, monkeypatch):
    """The smoke DiT study run with every descriptor call counted: the labels are one call per noise
    level (at most one level per sampler step) and the samples' psi one call per `shard_size` samples
    of each of the 1 + 2 x scales sampler runs, as the plan says beforehand; the per-sample class
    conditions are cut with their samples."""
    from geomlib.models import dit as dit_models
    from geomlib.studies.reward_guidance import images as image_studies

    cfg = presets.resolve("reward_guidance", "smoke", latent_model=False)
    plan = reward_guidance.plan("smoke", cfg).loc["DiT (eps)"]
    phase, calls = ["labels"], {"labels": [], "samples": []}
    geometry, fit = dit_models.DiTModel.geometry, image_studies.fit_rewards

    def counted(self, inputs, **options):
        calls[phase[0]].append(len(inputs))
        return geometry(self, inputs, **options)

    def fit_then_sample(*args, **options):  # the labels are done when the rewards are fitted
        phase[0] = "samples"
        return fit(*args, **options)

    monkeypatch.setattr(dit_models.DiTModel, "geometry", counted)
    monkeypatch.setattr(image_studies, "fit_rewards", fit_then_sample)
    reward_guidance.dit_guidance(presets.resolve("dit", "smoke"), cfg)
    labels, samples = plan.loc["reward labels (noised latents)"], plan.loc["psi of the samples"]
    assert labels["inputs"] == max(cfg.image_reward_sizes) + cfg.image_reward_test == sum(calls["labels"])
    steps = presets.resolve("dit", "smoke").sample_steps
    assert (
        labels["kept as"] == f"one cached call per noise level (at most {steps})"
        and len(calls["labels"]) <= steps
    )
    assert samples["inputs"] == sum(calls["samples"])
    assert samples["kept as"] == f"{len(calls['samples'])} cached calls"
    assert max(calls["samples"]) == cfg.shard_size

    # run again, as after an interruption: every sampler run and reward comes from the cache
    runs = []
    sample = dit_models.DiTModel.sample
    monkeypatch.setattr(
        dit_models.DiTModel,
        "sample",
        lambda self, *a, **o: runs.append(o.get("reward_scale")) or sample(self, *a, **o),
    )
    reward_guidance.dit_guidance(presets.resolve("dit", "smoke"), cfg)
    assert (
        plan.loc["guided samples", "kept as"]
        == f"{1 + 2 * len(cfg.image_guidance_scales)} cached sampler runs"
    )
    assert runs == []


def test_a_cached_reward_is_the_fitted_one(scratch_folders):
    """Loaded from the cache, a torch reward has the fitted weights: the same gradients bit for bit."""
    from geomlib.models.reward import cached_torch_reward

    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((64, 2, 3)).astype(np.float32), rng.integers(0, 1000, 64)
    psi = x.reshape(64, -1).sum(1) + t / 1000
    settings = dict(hidden=16, depth=2, steps=50, learning_rate=1e-2, seed=3)
    fitted = cached_torch_reward(x, t, psi, **settings)
    loaded = cached_torch_reward(x, t, psi, **settings)
    assert list((scratch_folders / "cache" / "reward_models").iterdir())  # written once, then read
    np.testing.assert_array_equal(loaded.gradient(x, 500), fitted.gradient(x, 500))
    assert loaded.fingerprint() == fitted.fingerprint()
    other = cached_torch_reward(x, t, psi, **{**settings, "seed": 4})
    assert other.fingerprint() != fitted.fingerprint()


def test_the_paper_plan_gives_the_decoder_s_measured_peak_memory_on_its_descriptor_rows():
    """With SD 1.4 and the paper's decoder map: the labels' and the samples' psi rows carry the decoder's
    peak memory per call (measured on the CPU with SD 1.4's configuration); sampling rows none. With the
    UNet map or the small models nothing is claimed: the UNet was measured as the guided map only."""
    from geomlib.models.base import PEAK_MEMORY_COLUMN
    from geomlib.models.latent_diffusion import PRETRAINED_PEAK_GIB

    cfg = presets.resolve("reward_guidance", "paper")
    plan = reward_guidance.plan("paper", cfg).loc["latent diffusion (decoder)", PEAK_MEMORY_COLUMN]
    assert (
        plan["reward labels (noised latents)"] == plan["psi of the samples"] == PRETRAINED_PEAK_GIB["decoder"]
    )
    assert np.isnan(plan["guided samples"])
    unet = reward_guidance.plan("paper", presets.resolve("reward_guidance", "paper", latent_map="unet"))
    assert unet[PEAK_MEMORY_COLUMN].isna().all()
    assert (
        reward_guidance.plan("smoke", presets.resolve("reward_guidance", "smoke"))[PEAK_MEMORY_COLUMN]
        .isna()
        .all()
    )


def test_a_sampler_run_kept_in_parts_is_the_run_kept_whole_and_resumes(scratch_folders, monkeypatch):
    """With `shard_size` below the sample count, each sampler run is kept in parts of whole sampler
    batches: the study's numbers are those of runs kept whole, and a lost part is the only one redrawn."""
    from geomlib.models import dit as dit_models

    dit_cfg = presets.resolve("dit", "smoke")
    overrides = dict(latent_model=False, image_samples=6, image_batch=2)
    whole_cfg = presets.resolve("reward_guidance", "smoke", **overrides, shard_size=None)
    parts_cfg = presets.resolve("reward_guidance", "smoke", **overrides, shard_size=3)
    assert reward_guidance.sampler_part(parts_cfg) == 4  # 3 rounded up to two batches of 2
    whole = reward_guidance.dit_guidance(dit_cfg, whole_cfg)

    calls, sample = [], dit_models.DiTModel.sample
    monkeypatch.setattr(
        dit_models.DiTModel,
        "sample",
        lambda self, c, **o: calls.append((o["first_index"], len(c))) or sample(self, c, **o),
    )
    monkeypatch.setenv("GEOMLIB_CACHE", str(scratch_folders / "cache-parts"))
    parts = reward_guidance.dit_guidance(dit_cfg, parts_cfg)
    runs = 1 + 2 * len(parts_cfg.image_guidance_scales)
    assert calls == [(0, 4), (4, 2)] * runs
    assert reward_guidance.plan("smoke", parts_cfg).loc[("DiT (eps)", "guided samples"), "kept as"] == (
        f"{runs} cached sampler runs, each in 2 parts of 4 samples"
    )
    for scale, images in whole.images.items():
        np.testing.assert_array_equal(parts.images[scale], images)
    pd.testing.assert_frame_equal(parts.effects, whole.effects)

    # an interruption lost the last part written: only it is drawn again, and nothing changes
    newest = max(
        (scratch_folders / "cache-parts" / "reward_samples").glob("*.npy"), key=lambda p: p.stat().st_mtime_ns
    )
    newest.unlink()
    calls.clear()
    again = reward_guidance.dit_guidance(dit_cfg, parts_cfg)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(again.effects, whole.effects)
