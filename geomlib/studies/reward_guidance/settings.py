"""The settings of ``notebooks/reward_guidance``: each parameter, its rules and its values per preset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ...models.base import parse_worker
from ...settings import (
    Annotated,
    Count,
    Positive,
    Scales,
    Seed,
    Settings,
    Sizes,
    at_least,
)

# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class RewardConfig(Settings):
    """Settings of ``notebooks/reward_guidance``: a psi reward model and reward guidance (paper Sec. 5)."""

    seed: Seed  # seeds reward data, reward training, sampling and bootstraps
    reward_sizes: Sizes  # reward-model training-set sizes N (toy)
    reward_test: Count  # held-out labelled examples (toy)
    reward_levels: Count  # distinct noise levels of the reward data (toy)
    reward_hidden: Count  # reward MLP width
    reward_depth: Count  # reward MLP hidden layers
    reward_steps: Count  # Adam steps of each reward model
    reward_learning_rate: Positive  # Adam step size
    guidance_scales: Scales  # reward guidance scales s (toy)
    num_samples: Count  # samples per scale (toy), the same noise for every scale
    bins: Count  # equal-width bins of the baseline's psi
    bootstrap: Count  # paired bootstrap resamples for the Vendi intervals
    latent_model: bool  # also run the latent diffusion model of notebooks/stable_diffusion (small or SD 1.4)
    dit_model: bool  # also run the small DiT of notebooks/dit
    image_reward_sizes: Sizes  # image models: reward training-set sizes N
    image_reward_test: Count  # image models: held-out labelled inputs
    image_guidance_scales: Scales  # image models: reward guidance scales
    image_samples: Count  # image models: samples per scale (digit prompts or classes cycled)
    image_prompt_guidance: Positive  # image models: classifier-free guidance of the prompts / classes
    image_sketch_k: Annotated[int, at_least(1)] | None  # image models: sketch rows for psi (None: exact)
    latent_map: Literal["decoder", "unet"]  # latent model: whose psi labels the reward (the paper: decoder)
    compare_exact_labels: bool  # latent model: also fit rewards on exact psi labels, beside the sketched ones
    image_batch: Count  # image models: samples per sampler / decoder call (memory only)
    label_workers: Annotated[int, at_least(1)] | None  # latent model: label the reward data with
    # geomlib.tools.scale on this many Ray workers (one GPU each when there are GPUs); None: in this process
    sd_model: str | None  # None: the stable_diffusion preset's model; else "small", a hub id or a folder
    prompts_file: str | None  # pretrained SD: prompts, one a line, cycled over the samples
    image_folder: str | None  # pretrained SD: real images, encoded and noised for the reward data
    aesthetic_clip: str | None  # pretrained SD: CLIP ViT-L/14 folder of the aesthetic predictor
    aesthetic_head: str | None  # pretrained SD: LAION aesthetic head (.pth), the quality score
    # image models: samples per cached psi call, and per cached part of a sampler run (rounded up to
    # whole `image_batch`es); None: one call, one part
    shard_size: Annotated[int, at_least(1)] | None
    shard_worker: str  # "j/n": this process is j of n sharing the cache folder (e.g. one per GPU)
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            reward_sizes=(250, 1_000, 4_000, 16_000),
            reward_test=2_000,
            reward_levels=100,
            reward_hidden=128,
            reward_depth=3,
            reward_steps=3_000,
            reward_learning_rate=1e-3,
            guidance_scales=(0.5, 1.0, 2.0, 4.0),
            num_samples=2_000,
            bins=10,
            bootstrap=200,
            latent_model=True,
            dit_model=True,
            image_reward_sizes=(100, 200, 400),
            image_reward_test=100,
            image_guidance_scales=(1.0, 3.0, 10.0),
            image_samples=200,
            image_prompt_guidance=3.0,
            image_sketch_k=16,
            latent_map="decoder",
            compare_exact_labels=True,
            image_batch=256,
            label_workers=None,
            sd_model=None,
            prompts_file=None,
            image_folder=None,
            aesthetic_clip=None,
            aesthetic_head=None,
            shard_size=None,
            shard_worker="0/1",
            progress=True,
        ),
        "smoke": dict(
            reward_sizes=(50, 200),
            reward_test=100,
            reward_levels=10,
            reward_hidden=16,
            reward_steps=100,
            guidance_scales=(1.0, 4.0),
            num_samples=100,
            bins=3,
            bootstrap=10,
            image_reward_sizes=(10, 20),
            image_reward_test=10,
            image_guidance_scales=(3.0,),
            image_samples=6,
            image_sketch_k=4,
            shard_size=4,  # the sharded path, exercised by the regression test
            progress=False,
        ),
        "paper": dict(
            reward_sizes=(1_000, 4_000, 16_000, 64_000),
            num_samples=10_000,
            bootstrap=1_000,
            # Stable Diffusion 1.4 (the stable_diffusion paper preset); the pretrained DiT is not part of it.
            latent_model=True,
            dit_model=False,
            image_reward_sizes=(1_000, 2_000, 4_000),
            image_reward_test=500,
            image_samples=1_000,
            image_prompt_guidance=7.5,
            image_sketch_k=32,
            # exact labels would be SD's full decoder Jacobian, 786,432 x 16,384 per latent: small models only
            compare_exact_labels=False,
            image_batch=16,
            label_workers=1,  # Ray workers that label the 4,500 noised latents; one per GPU you have
            prompts_file="data/prompts/imagewoof_dreambooth.txt",
            image_folder="data/imagewoof/train",
            aesthetic_clip="data/models/clip-vit-large-patch14",
            aesthetic_head="data/models/sac+logos+ava1-l14-linearMSE.pth",
            shard_size=64,
        ),
    }

    def cross_checks(self) -> None:
        parse_worker(self.shard_worker)
