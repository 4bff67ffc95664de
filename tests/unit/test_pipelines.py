"""geomlib.pipelines on tiny random-weight pipelines built in code (no hub, no text encoder):

- each denoiser map's output is what the pipeline's own loop uses: one step of
  ``pipe(...)`` from the same latent equals the scheduler's step on the map's
  prediction;
- the singular values from ``local_geometry`` (exact Jacobian) equal those of a
  float64 ``torch.autograd.functional.jacobian`` of the map written here from
  the pipeline's documented call;
- the decoder is ``vae.decode(x / scaling_factor + shift_factor)``; x0 matches the
  scheduler's own ``pred_original_sample``.
"""

import copy

import numpy as np
import pytest
import torch

from geomlib import local_geometry
from geomlib.pipelines import analysed_map, tiny

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def embeddings(*shapes, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


def exact_singular_values(reference, x: torch.Tensor) -> np.ndarray:
    jacobian = torch.autograd.functional.jacobian(reference, x.double())
    return torch.linalg.svdvals(jacobian.reshape(x.numel(), x.numel()).T).numpy()


def test_stable_diffusion_denoiser_is_the_loop_s_guided_prediction_and_its_jacobian_is_exact():
    pipe = tiny.stable_diffusion()
    cond, uncond = embeddings((1, 3, 8), (1, 3, 8))
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2))
    fn = analysed_map(
        pipe, "denoiser", timestep=t, guidance_scale=3.0, prompt_embeds=cond, negative_prompt_embeds=uncond
    )

    # the pipeline's own loop from the same latent, one DDIM step
    out = pipe(
        prompt_embeds=cond, negative_prompt_embeds=uncond, guidance_scale=3.0, num_inference_steps=1,
        latents=x[None], output_type="latent", height=8, width=8,
    ).images[0]  # fmt: skip
    scheduler = copy.deepcopy(pipe.scheduler)
    step = scheduler.step(fn(x)[None], t, x[None])
    torch.testing.assert_close(out, step.prev_sample[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(analysed_map(pipe, "x0", timestep=t, guidance_scale=3.0, prompt_embeds=cond,
                                            negative_prompt_embeds=uncond)(x), step.pred_original_sample[0],
                               rtol=1e-4, atol=1e-5)  # fmt: skip

    unet = copy.deepcopy(pipe.unet).double()

    def reference(z):  # the documented call: eps_u + g (eps_c - eps_u)
        eps_c = unet(z[None], t, encoder_hidden_states=cond.double()).sample[0]
        eps_u = unet(z[None], t, encoder_hidden_states=uncond.double()).sample[0]
        return eps_u + 3.0 * (eps_c - eps_u)

    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)


def test_the_decoder_is_the_pipeline_s_decode_with_scaling_and_shift():
    pipe = tiny.sd3()
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(3))
    vae = copy.deepcopy(pipe.vae).double()

    def reference(z):
        return vae.decode(z[None] / 1.5 + 0.1).sample[0]

    fn = analysed_map(pipe, "decoder")
    torch.testing.assert_close(fn(x), reference(x.double()).float(), rtol=1e-4, atol=1e-5)
    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    jacobian = torch.autograd.functional.jacobian(reference, x.double()).reshape(-1, x.numel())
    np.testing.assert_allclose(geom.sigma[0], torch.linalg.svdvals(jacobian).numpy(), rtol=2e-3, atol=1e-5)


def test_sd3_denoiser_is_the_loop_s_guided_velocity_and_its_jacobian_is_exact():
    pipe = tiny.sd3()
    cond, uncond, pooled, neg_pooled = embeddings((1, 3, 16), (1, 3, 16), (1, 8), (1, 8))
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2))
    conditioning = dict(
        prompt_embeds=cond, negative_prompt_embeds=uncond, pooled_prompt_embeds=pooled,
        negative_pooled_prompt_embeds=neg_pooled,
    )  # fmt: skip
    fn = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=4.0, **conditioning)
    out = pipe(
        **conditioning, guidance_scale=4.0, num_inference_steps=1, latents=x[None], output_type="latent",
        height=8, width=8,
    ).images[0]  # fmt: skip
    sigma = float(t) / 1000  # one Euler step to sigma = 0: x + (0 - sigma) v
    torch.testing.assert_close(out, x - sigma * fn(x), rtol=1e-4, atol=1e-5)
    x0 = analysed_map(pipe, "x0", timestep=t, guidance_scale=4.0, **conditioning)
    torch.testing.assert_close(x0(x), out, rtol=1e-4, atol=1e-5)  # one step to sigma 0 lands on x0

    transformer = copy.deepcopy(pipe.transformer).double()

    def reference(z):
        def v(embeds, pool):
            return transformer(
                hidden_states=z[None], timestep=t.expand(1), encoder_hidden_states=embeds.double(),
                pooled_projections=pool.double(),
            ).sample[0]  # fmt: skip

        return v(uncond, neg_pooled) + 4.0 * (v(cond, pooled) - v(uncond, neg_pooled))

    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)


def test_flux_denoiser_packs_scales_t_and_embeds_guidance_as_the_pipeline_does():
    pipe = tiny.flux()
    cond, pooled = embeddings((1, 3, 16), (1, 8))
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2))
    fn = analysed_map(
        pipe, "denoiser", timestep=t, guidance_scale=2.5, prompt_embeds=cond, pooled_prompt_embeds=pooled
    )
    packed = pipe._pack_latents(x[None], 1, 4, 4, 4)
    out = pipe(
        prompt_embeds=cond, pooled_prompt_embeds=pooled, guidance_scale=2.5, num_inference_steps=1,
        latents=packed, output_type="latent", height=8, width=8,
    ).images  # fmt: skip
    out = pipe._unpack_latents(out, 8, 8, pipe.vae_scale_factor)[0]
    sigma = float(t) / 1000
    torch.testing.assert_close(out, x - sigma * fn(x), rtol=1e-4, atol=1e-5)

    transformer = copy.deepcopy(pipe.transformer).double()
    image_ids = torch.stack(torch.meshgrid(torch.arange(2), torch.arange(2), indexing="ij"), -1).reshape(4, 2)
    image_ids = torch.cat([torch.zeros(4, 1), image_ids], 1).double()  # (0, row, column) per token

    def reference(z):  # packing written out: 2 x 2 patches of the 4 x 4 latent, channels first in each
        tokens = z.reshape(4, 2, 2, 2, 2).permute(1, 3, 0, 2, 4).reshape(1, 4, 16)
        v = transformer(
            hidden_states=tokens, timestep=(t / 1000).double().expand(1), guidance=torch.tensor([2.5]),
            pooled_projections=pooled.double(), encoder_hidden_states=cond.double(),
            txt_ids=torch.zeros(3, 3).double(), img_ids=image_ids,
        ).sample  # fmt: skip
        return v.reshape(2, 2, 4, 2, 2).permute(2, 0, 3, 1, 4).reshape(4, 4, 4)

    torch.testing.assert_close(fn(x), reference(x.double()).float(), rtol=1e-4, atol=1e-5)
    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)


def test_sdxl_denoiser_forms_the_time_ids_and_euler_input_scaling_as_the_pipeline_does():
    pipe = tiny.sdxl()
    cond, uncond, pooled, neg_pooled = embeddings((1, 3, 8), (1, 3, 8), (1, 8), (1, 8))
    conditioning = dict(
        prompt_embeds=cond, negative_prompt_embeds=uncond, pooled_prompt_embeds=pooled,
        negative_pooled_prompt_embeds=neg_pooled,
    )  # fmt: skip
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2)) * pipe.scheduler.init_noise_sigma
    fn = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, **conditioning)
    start = x[None] / pipe.scheduler.init_noise_sigma  # the pipeline scales the latents it is given
    out = pipe(
        **conditioning, guidance_scale=3.0, num_inference_steps=1, latents=start, output_type="latent",
        height=8, width=8,
    ).images[0]  # fmt: skip
    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(1)
    torch.testing.assert_close(
        out, scheduler.step(fn(x)[None], t, x[None]).prev_sample[0], rtol=1e-4, atol=1e-5
    )

    unet = copy.deepcopy(pipe.unet).double()
    sigma = float(pipe.scheduler.sigmas[0])
    time_ids = torch.tensor([[8.0, 8.0, 0.0, 0.0, 8.0, 8.0]]).double()  # original size, crop, target size

    def reference(z):
        z = z / (sigma**2 + 1) ** 0.5  # Euler's scale_model_input

        def eps(embeds, text_embeds):
            added = {"text_embeds": text_embeds.double(), "time_ids": time_ids}
            return unet(z[None], t, encoder_hidden_states=embeds.double(), added_cond_kwargs=added).sample[0]

        return eps(uncond, neg_pooled) + 3.0 * (eps(cond, pooled) - eps(uncond, neg_pooled))

    torch.testing.assert_close(fn(x), reference(x.double()).float(), rtol=1e-4, atol=1e-5)
    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)
    with pytest.raises(ValueError, match="x0 is formed for DDPM-type schedulers"):
        analysed_map(pipe, "x0", timestep=t, guidance_scale=3.0, **conditioning)
    with pytest.raises(ValueError, match="is not among the scheduler's timesteps"):
        analysed_map(pipe, "denoiser", timestep=t - 1, guidance_scale=3.0, **conditioning)


def test_bad_requests_get_one_sentence():
    pipe = tiny.stable_diffusion()
    with pytest.raises(ValueError, match="kind must be one of"):
        analysed_map(pipe, "unet")
    with pytest.raises(ValueError, match="needs timestep"):
        analysed_map(pipe, "x0")
    with pytest.raises(ValueError, match="needs prompt_embeds"):
        analysed_map(pipe, "denoiser", timestep=10)
    with pytest.raises(ValueError, match=r"unknown conditioning \['pooled_prompt_embeds'\]"):
        analysed_map(pipe, "denoiser", timestep=10, pooled_prompt_embeds=torch.zeros(1, 8))
    with pytest.raises(ValueError, match="pipe is a object; supported pipelines: DiTPipeline, FluxPipeline"):
        analysed_map(object(), "decoder")


def test_dit_denoiser_guides_the_noise_channels_and_drops_the_learned_variance():
    pipe = tiny.dit()  # 5 classes: the null class of guidance is label 5
    transformer = pipe.transformer
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2))
    fn = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=2.0, class_labels=3)
    model = copy.deepcopy(transformer).double()

    def reference(z):
        def eps(label):
            return model(z[None], timestep=t.reshape(1), class_labels=torch.tensor([label])).sample[0, :4]

        return eps(5) + 2.0 * (eps(3) - eps(5))  # the null class is the label table's last entry

    torch.testing.assert_close(fn(x), reference(x.double()).float(), rtol=1e-4, atol=1e-5)
    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)
    x0 = analysed_map(pipe, "x0", timestep=t, guidance_scale=2.0, class_labels=3)(x)
    step = copy.deepcopy(pipe.scheduler).step(fn(x)[None], t, x[None])
    torch.testing.assert_close(x0, step.pred_original_sample[0], rtol=1e-4, atol=1e-5)


def test_delta_of_a_pipeline_map_counts_every_activation_call():
    from geomlib import Polytope
    from geomlib.core.backends.torch_backend import torch_with_preactivations

    pipe = tiny.stable_diffusion()
    cond, uncond = embeddings((1, 3, 8), (1, 3, 8))
    fn = analysed_map(
        pipe, "denoiser", timestep=500, guidance_scale=3.0, prompt_embeds=cond, negative_prompt_embeds=uncond
    )
    zs = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(4))
    polytope = Polytope(k=3, r=0.5)
    captured = local_geometry(fn, zs, descriptors=("delta",), polytope=polytope, progress=False)
    hooked = local_geometry(
        torch_with_preactivations(fn, pipe.unet), zs, has_aux=True, descriptors=("delta",),
        polytope=polytope, progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(captured.delta, hooked.delta)  # the UNet's activations are all modules
    assert captured.delta.min() > 0


@pytest.mark.parametrize("variant", ["sigma", "alpha 1024"])
def test_pixart_denoiser_and_x0_are_the_loop_s(variant):
    # alpha's 1024 px model adds resolution conditioning (width a multiple of 3 for its embedding)
    size = 4 if variant == "sigma" else 128
    pipe = tiny.pixart(sample_size=size, heads=2 if size == 4 else 3, alpha=variant != "sigma")
    conditioning = tiny.conditioning(pipe)  # prompt embeddings and attention masks, both sides
    cond, uncond = conditioning["prompt_embeds"], conditioning["negative_prompt_embeds"]
    mask = conditioning["prompt_attention_mask"]
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, size, size, generator=torch.Generator().manual_seed(2))
    side = size * pipe.vae_scale_factor
    # one step: the pipeline returns the scheduler's x0 estimate
    out = pipe(
        **conditioning, negative_prompt=None, guidance_scale=3.0, num_inference_steps=1, latents=x[None],
        output_type="latent", height=side, width=side, use_resolution_binning=False,
    ).images[0]  # fmt: skip
    x0 = analysed_map(pipe, "x0", timestep=t, guidance_scale=3.0, **conditioning)
    torch.testing.assert_close(x0(x), out, rtol=1e-4, atol=1e-5)
    if variant != "sigma":
        return
    fn = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, **conditioning)
    model = copy.deepcopy(pipe.transformer).double()

    def reference(z):
        def eps(embeds):
            added = {"resolution": None, "aspect_ratio": None}
            return model(
                z[None], encoder_hidden_states=embeds.double(), encoder_attention_mask=mask,
                timestep=t.reshape(1), added_cond_kwargs=added,
            ).sample[0, :4]  # fmt: skip

        return eps(uncond) + 3.0 * (eps(cond) - eps(uncond))

    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)


def test_sana_denoiser_scales_the_timestep_as_the_pipeline_does():
    pipe = tiny.sana()  # timestep_scale 0.5
    transformer = pipe.transformer
    conditioning = tiny.conditioning(pipe)  # prompt embeddings and attention masks, both sides
    cond, uncond = conditioning["prompt_embeds"], conditioning["negative_prompt_embeds"]
    mask = conditioning["prompt_attention_mask"]
    pipe.scheduler.set_timesteps(1)
    t = pipe.scheduler.timesteps[0]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(2))
    fn = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, **conditioning)
    out = pipe(
        **conditioning, negative_prompt=None, guidance_scale=3.0, num_inference_steps=1, latents=x[None],
        output_type="latent", height=4 * pipe.vae_scale_factor, width=4 * pipe.vae_scale_factor,
        use_resolution_binning=False,
    ).images[0]  # fmt: skip
    torch.testing.assert_close(out, x - float(t) / 1000 * fn(x), rtol=1e-4, atol=1e-5)
    model = copy.deepcopy(transformer).double()

    def reference(z):
        def v(embeds):
            return model(
                z[None], encoder_hidden_states=embeds.double(), encoder_attention_mask=mask,
                timestep=t.reshape(1) * 0.5,
            ).sample[0]  # fmt: skip

        return v(uncond) + 3.0 * (v(cond) - v(uncond))

    geom = local_geometry(fn, x[None], return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma[0], exact_singular_values(reference, x), rtol=2e-3, atol=1e-5)


def test_a_saved_stable_diffusion_folder_is_analysed_through_this_module(tiny_sd_folder):
    """The companion's pretrained path (the SD notebook's paper preset, geomlib.tools.scale) uses these maps:
    its guided UNet map is one step of the saved pipeline's own loop, prompts encoded by its text encoder."""
    from geomlib.models.latent_diffusion import pretrained_latent_diffusion

    model = pretrained_latent_diffusion(str(tiny_sd_folder), allow_download=False, device="cpu")
    pipe = model.pipe
    pipe.scheduler.set_timesteps(1)
    t = int(pipe.scheduler.timesteps[0])
    x = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(5))
    fn = model.analysed_map("unet", condition="a wet dingo", timestep=t, guidance=3.0)
    eps, preactivations = fn(x)
    assert preactivations  # the module hooks still see the UNet's activations
    cond, uncond = model.embed(["a wet dingo"]), model.embed([""])
    out = pipe(
        prompt_embeds=cond, negative_prompt_embeds=uncond, guidance_scale=3.0, num_inference_steps=1,
        latents=x[None], output_type="latent", height=16, width=16,
    ).images[0]  # fmt: skip
    step = copy.deepcopy(pipe.scheduler).step(eps[None], t, x[None])
    torch.testing.assert_close(out, step.prev_sample[0], rtol=1e-4, atol=1e-5)
    x0, _ = model.analysed_map("x0", condition="a wet dingo", timestep=t, guidance=3.0)(x)
    torch.testing.assert_close(x0, step.pred_original_sample[0], rtol=1e-4, atol=1e-5)
    image, _ = model.analysed_map("decoder")(x)
    scale = pipe.vae.config.scaling_factor
    torch.testing.assert_close(image, pipe.vae.decode(x[None] / scale).sample[0], rtol=1e-4, atol=1e-5)


def test_half_precision_runs_under_autocast_close_to_float32_and_bad_dtypes_are_refused():
    pipe = tiny.sd3()
    conditioning = tiny.conditioning(pipe)
    pipe.scheduler.set_timesteps(10)
    t = pipe.scheduler.timesteps[5]
    x = torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(6))
    full = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, **conditioning)(x)
    for dtype in (torch.bfloat16, torch.float16):
        half = analysed_map(pipe, "denoiser", timestep=t, guidance_scale=3.0, dtype=dtype, **conditioning)(x)
        assert half.dtype == torch.float32 and not torch.equal(half, full)  # it did compute in half precision
        torch.testing.assert_close(half, full, rtol=0.1, atol=0.05)
    with pytest.raises(ValueError, match="dtype must be None or one of"):
        analysed_map(pipe, "decoder", dtype=torch.int8)
    pipe.transformer.to(torch.bfloat16)
    with pytest.raises(ValueError, match="dtype=torch.float32 needs float32 weights"):
        analysed_map(pipe, "decoder", dtype=torch.float32)
