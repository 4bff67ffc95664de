"""The latent diffusion model and the Stable Diffusion study: maps, plane, corruptions, tests."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from geomlib import Polytope, Sketch, presets
from geomlib.methods.analysis import welch_by_step
from geomlib.methods.images import corrupt
from geomlib.methods.metrics import nearest_similarity
from geomlib.models.latent_diffusion import load_latent_diffusion
from geomlib.models.pretrained import MissingWeightsError
from geomlib.models.torch_training import train_resumable
from geomlib.studies import stable_diffusion as sd_study


@pytest.fixture(scope="module")
def tiny_model():
    """The smoke preset's random-weight pipeline (tiny AutoencoderKL + UNet2DConditionModel)."""
    return load_latent_diffusion(presets.resolve("stable_diffusion", "smoke"))


def test_guided_map_psi_matches_an_independent_float64_jacobian(tiny_model):
    """Exact psi of the guided noise prediction equals log|det| of torch.autograd's dense Jacobian."""
    latent = np.random.default_rng(0).standard_normal((1, *tiny_model.latent_shape)).astype(np.float32)
    geom = tiny_model.geometry(
        latent,
        kind="unet",
        condition="a one",
        timestep=500,
        guidance=7.5,
        sketch=None,
        polytope=Polytope(k=2, r=0.05),
    )

    unet = tiny_model.unet
    context = torch.cat([tiny_model.embed(["a one"]), tiny_model.embed([""])]).double()
    t = torch.tensor(500)

    def guided(x):  # written out again here, in float64, without geomlib
        eps = unet.double()(torch.stack([x, x]), t, encoder_hidden_states=context).sample
        return (eps[1] + 7.5 * (eps[0] - eps[1])).reshape(-1)

    try:
        jacobian = torch.autograd.functional.jacobian(guided, torch.as_tensor(latent[0], dtype=torch.float64))
    finally:
        unet.float()
    matrix = jacobian.reshape(latent[0].size, latent[0].size).numpy()
    sigma = np.linalg.svd(matrix, compute_uv=False)
    np.testing.assert_allclose(geom.psi[0], np.log(sigma).sum(), rtol=2e-4)
    assert geom.delta[0] > 0


def test_decoder_map_singular_values_match_an_independent_float64_jacobian(tiny_model):
    """Exact (forward mode) and sketched with k = n (pullbacks) both give the dense float64 Jacobian's."""
    latent = np.random.default_rng(1).standard_normal((1, *tiny_model.latent_shape)).astype(np.float32)
    vae = tiny_model.vae
    scale = vae.config.scaling_factor

    def decode(x):  # written out again here, in float64, without geomlib
        return vae.double().decode(x[None] / scale).sample[0].reshape(-1)

    try:
        jacobian = torch.autograd.functional.jacobian(decode, torch.as_tensor(latent[0], dtype=torch.float64))
    finally:
        vae.float()
    n = jacobian.shape[0]
    expected = np.linalg.svd(jacobian.reshape(n, -1).numpy(), compute_uv=False)
    polytope = Polytope(k=2, r=0.05)
    exact = tiny_model.geometry(latent, kind="decoder", sketch=None, polytope=polytope)
    assert exact.settings["jacobian"] == "exact-jacfwd"
    sketched = tiny_model.geometry(
        latent, kind="decoder", sketch=Sketch(k=n, seed=3), polytope=polytope, descriptors=("psi", "nu")
    )
    np.testing.assert_allclose(exact.psi[0], np.log(expected).sum(), rtol=1e-4)
    np.testing.assert_allclose(sketched.psi[0], np.log(expected).sum(), rtol=1e-4)
    p = expected / expected.sum()
    np.testing.assert_allclose(exact.nu[0], np.exp(-(p * np.log(p)).sum()), rtol=1e-4)
    assert exact.delta[0] > 0
    with pytest.raises(ValueError, match="the decoder map takes no condition"):
        tiny_model.analysed_map("decoder", condition="a one")


def test_unguided_map_is_the_conditional_prediction(tiny_model):
    """guidance 1 means the conditional noise prediction alone (no null-prompt branch)."""
    x = torch.randn(tiny_model.latent_shape)
    out, preacts = tiny_model.analysed_map("unet", condition="a two", timestep=10, guidance=1.0)(x)
    direct = tiny_model.unet(
        x[None], torch.tensor(10), encoder_hidden_states=tiny_model.embed(["a two"])
    ).sample
    torch.testing.assert_close(out, direct[0])
    assert preacts


def test_sampler_noise_belongs_to_the_sample_not_the_batch(tiny_model):
    """Sample i starts from the same noise whatever the other prompts and the batch size; seeds differ."""
    prompts = ["a one", "memorized image 0", "a two"]
    a = tiny_model.sample_trajectories(prompts, seed=3, steps=3, guidance=2.0)
    b = tiny_model.sample_trajectories(["a five", *prompts[1:]], seed=3, steps=3, guidance=2.0, batch=1)
    c = tiny_model.sample_trajectories(prompts, seed=4, steps=3, guidance=2.0)
    assert a.trajectory.shape == (3, 3, *tiny_model.latent_shape)
    assert len(a.timesteps) == 3 and a.timesteps[0] > a.timesteps[-1]
    np.testing.assert_array_equal(a.trajectory[:, 0], b.trajectory[:, 0])  # the noise of each sample
    np.testing.assert_allclose(
        a.latents[1:], b.latents[1:], rtol=1e-4, atol=1e-5
    )  # same prompts, same result
    assert not np.allclose(a.trajectory[:, 0], c.trajectory[:, 0])
    noise = a.trajectory[:, 0].ravel()
    assert abs(noise.mean()) < 0.2 and abs(noise.std() - 1) < 0.1  # standard normal
    assert not np.allclose(a.trajectory[0, 0], a.trajectory[1, 0])
    assert not np.allclose(a.trajectory[:, -1], a.latents)
    np.testing.assert_array_equal(tiny_model.sample(prompts, seed=3, steps=3, guidance=2.0), a.latents)


def test_unknown_prompt_is_rejected_by_name(tiny_model):
    with pytest.raises(ValueError, match="prompts: \\['a fox'\\]"):
        tiny_model.sample(["a fox"], seed=0, steps=2, guidance=1.0)


def test_plane_passes_through_the_anchors_and_is_orthonormal():
    rng = np.random.default_rng(1)
    anchors = rng.standard_normal((3, 4, 2, 2))
    plane = sd_study.plane_through(anchors, grid=5, margin=0.2)
    flat = anchors.reshape(3, -1)
    # Each anchor is origin + u-coord * u + v-coord * v with u, v recovered from the grid itself.
    points = np.asarray(plane.points, np.float64).reshape(5, 5, -1)
    step_u = (points[0, 1] - points[0, 0]) / ((plane.extent[1] - plane.extent[0]) / 4)
    step_v = (points[1, 0] - points[0, 0]) / ((plane.extent[3] - plane.extent[2]) / 4)
    np.testing.assert_allclose([np.linalg.norm(step_u), np.linalg.norm(step_v)], 1, rtol=1e-4)
    assert abs(step_u @ step_v) < 1e-4
    for anchor, (cu, cv) in zip(flat, plane.anchor_coords, strict=True):
        np.testing.assert_allclose(flat[0] + cu * step_u + cv * step_v, anchor, atol=1e-4)
    low, high = plane.anchor_coords.min(0), plane.anchor_coords.max(0)
    assert plane.extent[0] < low[0] and plane.extent[1] > high[0]
    with pytest.raises(ValueError, match="collinear"):
        sd_study.plane_through(
            np.stack([flat[0], flat[1], 2 * flat[1] - flat[0]]).reshape(3, 4, 2, 2), 3, 0.1
        )


def test_corruptions_blur_smooths_and_noise_has_the_requested_std():
    gray = np.full((4, 32, 32), 0.5, np.float32)
    noisy = corrupt(gray, "noise", 0.1, seed=0)
    assert abs((noisy - gray).std() - 0.1) < 0.005  # no clipping at mid-gray
    edges = np.zeros((2, 16, 16), np.float32)
    edges[:, :, 8:] = 1
    blurred = corrupt(edges, "blur", 1.5, seed=0)
    assert np.abs(np.diff(blurred, axis=2)).max() < np.abs(np.diff(edges, axis=2)).max()
    np.testing.assert_allclose(blurred.mean(), edges.mean(), atol=1e-3)  # blurring keeps the mean
    with pytest.raises(ValueError, match="kind must be one of"):
        corrupt(edges, "jpeg", 1, seed=0)


def test_nearest_similarity_matches_brute_force():
    rng = np.random.default_rng(2)
    training, images = rng.random((30, 5, 5)), rng.random((7, 5, 5))
    images[3] = 2 * training[11]  # a scaled copy: cosine 1
    similarity, nearest = nearest_similarity(images, training)
    for i, image in enumerate(images):
        cosines = [image.ravel() @ t.ravel() / np.linalg.norm(image) / np.linalg.norm(t) for t in training]
        assert nearest[i] == int(np.argmax(cosines))
        np.testing.assert_allclose(similarity[i], max(cosines), rtol=1e-12)
    assert nearest[3] == 11 and similarity[3] == pytest.approx(1.0)


def test_welch_test_matches_the_textbook_formula():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "step": 0,
            "timestep": 900,
            "group": ["a"] * 8 + ["b"] * 13,
            "psi": np.r_[rng.normal(0, 1, 8), rng.normal(1, 3, 13)],
            "nu": rng.random(21),
            "delta": rng.integers(0, 9, 21),
        }
    )
    row = welch_by_step(frame, "group", "a", "b").set_index("descriptor").loc["psi"]
    x, y = frame.psi[:8].to_numpy(), frame.psi[8:].to_numpy()
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    t = (x.mean() - y.mean()) / np.sqrt(vx + vy)
    dof = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    np.testing.assert_allclose(row["p"], 2 * stats.t.sf(abs(t), dof), rtol=1e-10)


def test_training_resumes_to_the_same_weights(tmp_path):
    """Stopping after 3 of 6 steps and resuming gives the weights of an uninterrupted run."""

    def run(stop_at, run_dir):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 2)
        data = torch.randn(50, 3)

        def loss_at_step(step):
            if step == stop_at:
                raise KeyboardInterrupt
            batch = data[torch.randint(0, 50, (8,))]
            return (net(batch) ** 2).mean()

        train_resumable(
            {"net": net}, loss_at_step, steps=6, learning_rate=0.1, seed=1, run_dir=run_dir, save_every=3
        )
        return net

    with pytest.raises(KeyboardInterrupt):
        run(3, tmp_path / "a")
    assert (tmp_path / "a" / "latest.pt").exists() and not (tmp_path / "a" / "final.pt").exists()
    resumed = run(None, tmp_path / "a")
    straight = run(None, tmp_path / "b")
    torch.testing.assert_close(resumed.weight, straight.weight, rtol=0, atol=0)
    assert not (tmp_path / "a" / "latest.pt").exists()


def test_pretrained_model_offline_fails_with_one_clear_sentence():
    cfg = presets.resolve(
        "stable_diffusion", "paper", sd_model="no-such-org/no-such-model", allow_download=False
    )
    with pytest.raises(MissingWeightsError, match="sd_model='/path/to/stable-diffusion-v1-4'"):
        load_latent_diffusion(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (dict(slice_prompts=("a one", "a two")), "slice_prompts must be a list of exactly 3"),
        (dict(guidance_scales=(0.5,)), "guidance_scales must be a list with every entry >= 1"),
        (dict(memorized_share=0.3), "memorized_share must be small enough"),
        (dict(sketch_k=2000), "sketch_k must be <= 1024"),
        (dict(maps=("decoder", "decoder")), "maps must be a list without repeats"),
        (dict(maps=("vae",)), "maps must be a list of one of"),
        (dict(slice_timestep=1000), r"slice_timestep must be in \[0, 999\]"),
    ],
)
def test_bad_settings_are_named(override, message):
    with pytest.raises((ValueError, TypeError), match=message):
        presets.resolve("stable_diffusion", "default", **override)


def test_jpeg_like_quantization_matches_a_direct_block_dct():
    """Against an 8 x 8 DCT-II matrix built here: coefficients rounded to the step, then back."""
    rng = np.random.default_rng(5)
    images = rng.random((2, 16, 16)).astype(np.float32)
    n = np.arange(8)
    basis = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n[None] + 1) * n[:, None] / 16)
    basis[0] /= np.sqrt(2)  # orthonormal DCT-II
    expected = np.empty_like(images)
    for i in range(2):
        for by in range(2):
            for bx in range(2):
                block = images[i, 8 * by : 8 * by + 8, 8 * bx : 8 * bx + 8].astype(np.float64)
                coefficients = basis @ block @ basis.T
                expected[i, 8 * by : 8 * by + 8, 8 * bx : 8 * bx + 8] = (
                    basis.T @ (np.round(coefficients / 0.3) * 0.3) @ basis
                )
    np.testing.assert_allclose(corrupt(images, "quantize", 0.3, seed=0), np.clip(expected, 0, 1), atol=1e-5)
    assert (
        np.abs(corrupt(images, "quantize", 1e-6, seed=0) - images).max() < 1e-4
    )  # a tiny step changes nothing


def test_a_prompt_is_memorized_when_most_of_its_generations_copy_its_own_image():
    """Copy rates counted by hand: a generation copies when its nearest training image is the prompt's
    own and its similarity to that image's reconstruction clears the threshold (the similarity to the
    nearest raw image does not count); a prompt counts when more than half copy; the memorization rows
    need half the prompts to count."""
    import pandas as pd

    from geomlib.studies import stable_diffusion as sd_study

    rows = [  # prompt, own, similarity: "a" 2 of 3 copy, "b" 1 of 3 (one is near but not its own), "c" 0
        ("a", True, 0.99), ("a", True, 0.97), ("a", True, 0.90),
        ("b", True, 0.99), ("b", False, 0.99), ("b", True, 0.80),
        ("c", False, 0.99), ("c", True, 0.94), ("c", True, 0.50),
    ]  # fmt: skip
    samples = pd.DataFrame(rows, columns=["prompt", "own", "similarity to own"]).assign(
        group="memorized",
        guidance=9.0,
        similarity=0.5,  # far from every raw image: must not matter
    )
    ordinary = pd.DataFrame(
        {"prompt": ["d"], "own": [False], "similarity": [0.99], "similarity to own": [np.nan]}
    )
    samples = pd.concat([samples, ordinary.assign(group="ordinary", guidance=9.0)], ignore_index=True)
    rates = sd_study.copy_rates(samples, threshold=0.95)
    assert rates.loc[(9.0, "a"), "share copying"] == pytest.approx(2 / 3)
    assert rates.loc[(9.0, "b"), "share copying"] == pytest.approx(1 / 3)
    assert list(rates["memorized (most copy)"]) == [True, False, False]
    assert "d" not in rates.index.get_level_values("prompt")
    assert sd_study.memorized_prompts(rates, 9.0) == {"memorized": 1, "prompts": 3, "enough": False}
    assert sd_study.copy_rates(samples.drop(columns="own"), 0.95) is None
    assert sd_study.copy_rates(None, 0.95) is None


def test_copy_rates_are_read_from_fresh_generations_of_every_memorized_prompt(tiny_model):
    """copy_generations per memorized prompt and guidance scale, each with its copy evidence; a pretrained
    model (training images unknown) gets none."""
    from dataclasses import replace

    from geomlib.studies import stable_diffusion as sd_study

    cfg = presets.resolve("stable_diffusion", "smoke")
    samples = sd_study.copy_rate_samples(tiny_model, cfg)
    prompts = len(tiny_model.memorized_indices)
    assert prompts >= 1
    assert len(samples) == prompts * cfg.copy_generations * len(cfg.guidance_scales)
    assert samples.groupby(["guidance", "prompt"]).size().eq(cfg.copy_generations).all()
    assert samples["similarity to own"].between(-1, 1).all()
    rates = sd_study.copy_rates(samples, cfg.similarity_threshold)
    assert rates["generations"].eq(cfg.copy_generations).all()
    ceiling = sd_study.decoder_ceiling(tiny_model)
    assert ceiling.shape == (prompts,)
    assert sd_study.copy_rate_samples(replace(tiny_model, training_images=None), cfg) is None


def test_final_latent_rows_test_both_contrasts_with_prompts_as_units_gated_by_the_copy_rate():
    """Both groups at 7.5: p < 0.05 with prompts as units reproduces, a larger p inconclusive, a sample-level
    p alone never decides. Memorized at 7.5 against ordinary at 9: psi and nu must still separate; delta
    must not (p >= 0.05 and |d| small: reproduced; p < 0.05: not reproduced). delta weakest: its |d| below
    both others. The decoder's rows are the claims, the UNet's sensitivity rows. Every row turns
    inconclusive when too few memorized prompts copy their image at 7.5."""
    import pandas as pd

    from geomlib.studies.stable_diffusion.claims import final_latent_verdicts
    from geomlib.tools.ledger import CLAIM, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, SENSITIVITY

    maps, descriptors = ["decoder", "unet"], ["psi", "nu", "delta"]
    within_p = {"psi": 0.001, "nu": 0.2, "delta": 0.01}
    tested = pd.DataFrame(
        [
            {
                "map": m,
                "guidance": g,
                "descriptor": d,
                "final latent: memorized - ordinary": 1.0,
                "final latent: cohen d": {"psi": 2.0, "nu": 1.5, "delta": 0.5}[d],
                "final latent: permutation p": within_p[d],
                "final latent: sample-level Welch p": 1e-9,  # the pseudo-replicated test never decides
                "prompts memorized": 6,
                "prompts ordinary": 6,
            }
            for m in maps
            for g in (7.5, 9.0)
            for d in descriptors
        ]
    ).set_index(["map", "guidance", "descriptor"])
    cross_p = {"psi": 0.001, "nu": 0.3, "delta": 0.01}
    cross = pd.DataFrame(
        [
            {
                "map": m,
                "descriptor": d,
                "difference": 1.0,
                "cohen d": 0.1,
                "permutation p": cross_p[d],
                "units first": 6,
                "units second": 6,
            }
            for m in maps
            for d in descriptors
        ]
    ).set_index(["map", "descriptor"])
    rates = pd.DataFrame(
        {"memorized (most copy)": [True] * 4},
        index=pd.MultiIndex.from_product([[7.5, 9.0], ["a", "b"]], names=["guidance", "prompt"]),
    )
    verdicts = {v.claim.key: v for v in final_latent_verdicts(tested, cross, maps, rates)}
    assert {k: v.verdict for k, v in verdicts.items() if "unet" not in k} == {
        "memorization_final_latent_psi_g7.5": REPRODUCED,
        "memorization_final_latent_nu_g7.5": INCONCLUSIVE,
        "memorization_final_latent_delta_g7.5": REPRODUCED,
        "memorization_delta_weakest_g7.5": REPRODUCED,
        "memorization_final_latent_psi_memorized7.5_ordinary9": REPRODUCED,
        "memorization_final_latent_nu_memorized7.5_ordinary9": INCONCLUSIVE,
        "memorization_final_latent_delta_memorized7.5_ordinary9": NOT_REPRODUCED,
    }
    kinds = {v.claim.kind for k, v in verdicts.items() if k.endswith("_unet")}
    assert kinds == {SENSITIVITY} and {v.claim.kind for k, v in verdicts.items() if "unet" not in k} == {
        CLAIM
    }
    assert len(verdicts) == 14
    rates.loc[7.5, "memorized (most copy)"] = False  # 0 of 2 copy at guidance 7.5: too few to test
    gated = final_latent_verdicts(tested, cross, maps, rates)
    assert {v.verdict for v in gated} == {INCONCLUSIVE}
    assert (
        "(reproduced otherwise)"
        in {v.claim.key: v for v in gated}["memorization_final_latent_psi_g7.5"].value
    )
    tested["prompts memorized"] = tested["prompts ordinary"] = 2  # 1 / C(4, 2) > 0.05: cannot decide
    rows = final_latent_verdicts(tested, cross, maps, None)
    assert {v.verdict for v in rows if "_g7.5" in v.claim.key and "weakest" not in v.claim.key} == {
        INCONCLUSIVE
    }


def test_the_plan_counts_what_the_memorization_study_and_the_slice_compute(tiny_model, tmp_path, monkeypatch):
    """The plan's inputs per map equal the rows the study's own code produces (memorization trajectories:
    the strided steps and the final latent), and its cached calls the ``geometry`` calls the study makes
    (smoke: 5 inputs per shard); a missing input file is named before anything runs."""
    from dataclasses import replace

    from geomlib.studies import stable_diffusion as sd_study

    cfg = presets.resolve("stable_diffusion", "smoke")
    plan = sd_study.plan(cfg)
    calls = []
    original = tiny_model.geometry

    def counted_geometry(latents, **options):
        calls.append(options["kind"])
        return original(latents, **options)

    monkeypatch.setattr(tiny_model, "geometry", counted_geometry)
    probes = sd_study.Probes.from_config(cfg)
    trajectories, _, _ = sd_study.memorization_study(tiny_model, cfg, probes)
    for name in cfg.maps:
        counted = plan.loc[("memorization trajectories", name), "inputs"]
        assert counted == (trajectories["map"] == name).sum()
        assert plan.loc[("memorization trajectories", name), "cached calls"] == calls.count(name)
    grid = cfg.slice_grid
    plane = sd_study.plane_through(
        np.random.default_rng(0).standard_normal((3, *tiny_model.latent_shape)), grid, 0.1
    )
    assert plan.loc[(f"latent slice ({grid} x {grid})", cfg.maps[0]), "inputs"] == len(plane.points)
    calls.clear()
    probes.geometry(tiny_model, plane.points, cfg.maps[0])
    assert plan.loc[(f"latent slice ({grid} x {grid})", cfg.maps[0]), "cached calls"] == len(calls) > 1
    missing = replace(cfg, image_folder=str(tmp_path / "no_such_folder"))
    with pytest.raises(FileNotFoundError, match="image_folder"):
        sd_study.check_inputs(missing)
    sd_study.check_inputs(replace(cfg, image_folder=str(tmp_path)))  # an existing folder passes


def test_the_paper_plan_reads_its_prompt_files_and_prices_the_unet_map(tmp_path):
    """Paper sizes, with prompt files of 3 and 5 lines: memorization inputs (3 + 5) x 10 samples x 2 scales x
    (50 steps, stride 1, + the final latent = 51); the UNet map at 11.1 + 0.34 s per input (k = 120) in
    hours; the decoder map unpriced (its cost was not measured)."""
    from dataclasses import replace

    from geomlib.studies import stable_diffusion as sd_study

    (tmp_path / "memorized.txt").write_text("a\nb\nc\n")
    (tmp_path / "ordinary.txt").write_text("d\ne\nf\ng\nh\n")
    cfg = replace(
        presets.resolve("stable_diffusion", "paper"),
        memorized_prompts_file=str(tmp_path / "memorized.txt"),
        ordinary_prompts_file=str(tmp_path / "ordinary.txt"),
    )
    plan = sd_study.plan(cfg)
    steps = cfg.sample_steps // cfg.trajectory_stride + 1
    expected = 8 * cfg.samples_per_prompt * len(cfg.guidance_scales) * steps
    assert plan.loc[("memorization trajectories", "unet"), "inputs"] == expected
    hours = plan.loc[("memorization trajectories", "unet"), "H100 hours (measured UNet cost)"]
    assert hours == pytest.approx(expected * (11.1 * cfg.sketch_k / 120 + 0.34) / 3600, abs=0.05)
    slice_rows = plan.loc[(f"latent slice ({cfg.slice_side_grid} x {cfg.slice_side_grid})", "unet")]
    assert slice_rows["inputs"] == cfg.slice_side_grid**2
    assert plan.loc[(f"latent slice ({cfg.slice_grid} x {cfg.slice_grid})", "decoder")].isna()[
        "H100 hours (measured UNet cost)"
    ]
    # every section of a map has that map's peak memory per call, measured with SD 1.4's configuration
    from geomlib.models.base import PEAK_MEMORY_COLUMN
    from geomlib.models.latent_diffusion import PRETRAINED_PEAK_GIB

    for (_, name), peak in plan[PEAK_MEMORY_COLUMN].items():
        assert peak == PRETRAINED_PEAK_GIB[name]
    small = sd_study.plan(presets.resolve("stable_diffusion", "default"))
    assert small[PEAK_MEMORY_COLUMN].isna().all()  # the small model was never measured: nothing claimed


def test_the_paper_plan_offers_the_largest_size_within_its_budget(tmp_path):
    """Each priced section past ``budget_hours`` names a setting; planned again with it, the section fits,
    and with one more (grid side, image or sample) it would not: the nearest size that fits."""
    from dataclasses import replace

    from geomlib.studies import stable_diffusion as sd_study

    (tmp_path / "memorized.txt").write_text("\n".join(f"m{i}" for i in range(20)))
    (tmp_path / "ordinary.txt").write_text("\n".join(f"o{i}" for i in range(20)))
    cfg = replace(
        presets.resolve("stable_diffusion", "paper"),
        memorized_prompts_file=str(tmp_path / "memorized.txt"),
        ordinary_prompts_file=str(tmp_path / "ordinary.txt"),
    )
    column = f"within {cfg.budget_hours:g} h"
    plan = sd_study.plan(cfg)
    offers = plan.loc[plan[column].str.contains("="), column]
    assert len(offers) == 3  # the UNet's slice, corruptions and trajectories are each more than a day
    for (section, name), offer in offers.items():
        setting, value = offer.split("=")
        for size, fits in ((int(value), True), (int(value) + 1, False)):
            replanned = sd_study.plan(replace(cfg, **{setting: size}))
            rows = replanned.loc[replanned.index.get_level_values("map") == name]
            row = rows[[s.split(" (")[0] == section.split(" (")[0] for s, _ in rows.index]].iloc[0]
            hours = row["inputs"] * (11.1 * cfg.sketch_k / 120 + 0.34) / 3600  # the measured cost, unrounded
            assert (hours <= cfg.budget_hours) == fits, (offer, size, hours)
    assert set(plan.loc[plan.index.get_level_values("map") == "decoder", column]) == {"cost not measured"}
