"""The DiT study (the rebuttal's DiT-XL/2 experiment) with geomlib's PyTorch backend.

One pipeline at two scales. ``paper``: diffusers' ``DiTTransformer2DModel``,
VAE and scheduler of ``facebook/DiT-XL-2-256`` (a hub id or a local folder),
the ten Imagewoof classes. ``default``: a small class-conditional
``DiTTransformer2DModel`` trained here on MNIST digits (average-pooled to
14 x 14 and padded to 16 x 16, so it works in pixel space and needs no VAE),
with the same sampler and the same analysis. ``smoke``: the small
architecture with random weights.

The map analysed is the transformer's noise prediction at t = 0 on the final
latents, ``x -> eps_theta(x, 0, y)`` for each image's class ``y`` (the first
``in_channels`` output channels when the model also predicts a variance).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .backends.torch_backend import torch_with_preactivations, use_math_attention
from .data import load_mnist
from .directions import Polytope, Sketch
from .io import array_hash, cache_dir, config_hash
from .local_geometry import local_geometry
from .presets import DiTConfig
from .pretrained import MissingWeightsError, load_pipeline
from .result import LocalGeometry
from .torch_training import train_resumable

# diffusers imports tqdm.auto, which warns in notebooks without ipywidgets; the bars work without them.
warnings.filterwarnings("ignore", message="IProgress not found")

__all__ = ["IMAGEWOOF_CLASSES", "DiTModel", "MissingWeightsError", "load_dit", "mnist_for_dit", "summary"]

IMAGEWOOF_CLASSES = {
    155: "Shih-Tzu",
    159: "Rhodesian ridgeback",
    162: "beagle",
    167: "English foxhound",
    182: "Border terrier",
    193: "Australian terrier",
    207: "golden retriever",
    229: "Old English sheepdog",
    258: "Samoyed",
    273: "dingo",
}


@dataclass
class DiTModel:
    """A DiT with its scheduler (and VAE, for latent models), ready to sample and to analyse."""

    transformer: torch.nn.Module
    scheduler: object
    vae: torch.nn.Module | None
    class_names: dict[int, str]
    description: str  # which model produced the figures, said on every figure
    cache_key: dict = field(default_factory=dict)

    def __post_init__(self):
        use_math_attention(self.transformer)  # vmap-friendly; see geomlib.backends.torch_backend

    @property
    def channels(self) -> int:
        return self.transformer.config.in_channels

    @property
    def null_class(self) -> int:
        return self.transformer.config.num_embeds_ada_norm

    def eps(self, x, t, labels):
        out = self.transformer(x, timestep=t, class_labels=labels).sample
        return out[:, : self.channels]  # drop the learned variance, if any

    @torch.no_grad()
    def sample_latents(
        self,
        labels,
        steps: int,
        guidance: float,
        seed: int,
        batch: int = 256,
        reward_gradient=None,
        scale: float = 0.0,
    ) -> np.ndarray:
        """Final latents ``(N, C, H, W)`` for class ``labels``, DDIM-style with the model's scheduler.

        reward_gradient: optional ``(x array, t) -> grad_x r``; each step then
        uses ``eps - scale * sqrt(1 - alpha_bar_t) * grad`` (reward guidance),
        from the same noise as the unguided run.
        """
        size = self.transformer.config.sample_size
        out = []
        for start in range(0, len(labels), batch):
            y = torch.as_tensor(labels[start : start + batch])
            generator = torch.Generator().manual_seed(seed * 100_003 + start)
            x = torch.randn(len(y), self.channels, size, size, generator=generator)
            self.scheduler.set_timesteps(steps)
            for t in self.scheduler.timesteps:
                tt = torch.full((len(y),), int(t))
                if guidance > 1:
                    both = self.eps(
                        torch.cat([x, x]),
                        torch.cat([tt, tt]),
                        torch.cat([y, torch.full_like(y, self.null_class)]),
                    )
                    cond, uncond = both.chunk(2)
                    eps = uncond + guidance * (cond - uncond)
                else:
                    eps = self.eps(x, tt, y)
                if reward_gradient is not None and scale:
                    sigma = float(torch.sqrt(1 - self.scheduler.alphas_cumprod[int(t)]))
                    gradient = np.array(reward_gradient(x.numpy(), int(t)), dtype=np.float32)
                    eps = eps - scale * sigma * torch.from_numpy(gradient)
                x = self.scheduler.step(eps, t, x).prev_sample
            out.append(x.numpy())
        return np.concatenate(out)

    @torch.no_grad()
    def to_images(self, latents: np.ndarray) -> np.ndarray:
        """Images in [0, 1]: ``(N, H, W)`` for one channel, ``(N, H, W, 3)`` for RGB."""
        x = torch.as_tensor(latents)
        if self.vae is not None:
            x = torch.cat(
                [self.vae.decode(part / self.vae.config.scaling_factor).sample for part in x.split(16)]
            )
        images = ((x / 2 + 0.5).clamp(0, 1)).numpy()
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    def generator(self, label: int, timestep: int = 0):
        """``x -> (eps_theta(x, timestep, label), {activation: pre-activation})`` for one latent ``x``."""
        t0, y = torch.full((1,), int(timestep), dtype=torch.long), torch.tensor([label])

        def fn(x):
            return self.eps(x[None], t0, y)[0]

        return torch_with_preactivations(fn, self.transformer)

    def geometry(
        self,
        latents: np.ndarray,
        labels: np.ndarray,
        sketch: Sketch,
        polytope: Polytope,
        progress: bool = False,
        timestep: int = 0,
    ) -> LocalGeometry:
        """psi, nu (sketched) and delta of the noise prediction at ``timestep``, per image; cached."""
        key = {
            "model": self.cache_key,
            "latents": array_hash(latents),
            "labels": array_hash(labels),
            "sketch": sketch.as_dict(),
            "polytope": polytope.as_dict(),
            "timestep": int(timestep),
        }
        path = cache_dir() / "dit_geometry" / f"{config_hash(key)}.npz"
        if self.cache_key and path.exists():
            return LocalGeometry.load(path)
        self.transformer.eval()
        parts, order = [], []
        for label in tqdm(np.unique(labels), desc="DiT geometry per class", disable=not progress):
            members = np.flatnonzero(labels == label)
            parts.append(
                local_geometry(
                    self.generator(int(label), timestep),
                    latents[members],
                    has_aux=True,
                    sketch=sketch,
                    complexity=polytope,
                    progress=False,
                )
            )
            order.append(members)
        geom = _concatenate(parts, np.concatenate(order))
        if self.cache_key:
            geom.save(path)
        return geom


def _concatenate(parts: list[LocalGeometry], order: np.ndarray) -> LocalGeometry:
    """Join per-class results and put them back in input order."""
    inverse = np.argsort(order)

    def join(name):
        return np.concatenate([getattr(p, name) for p in parts])[inverse]

    by_layer = {
        name: np.concatenate([p.delta_by_layer[name] for p in parts])[inverse]
        for name in parts[0].delta_by_layer
    }
    return LocalGeometry(
        psi=join("psi"),
        nu=join("nu"),
        rank=join("rank"),
        delta=join("delta"),
        delta_by_layer=by_layer,
        settings=parts[0].settings,
    )


# --- the small model, trained here -----------------------------------------------------------------


def mnist_for_dit(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST training digits, ``(N, 1, 16, 16)`` in [-1, 1] (2 x 2 average pool, 1-pixel border); labels."""
    data = load_mnist(seed=seed)
    images = data.train_images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    images = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return (images[:, None] * 2 - 1).astype(np.float32), data.train_labels


def small_dit(cfg: DiTConfig) -> DiTModel:
    """The small DiT of ``cfg``: trained here (cached), or with random weights when ``train_steps == 0``."""
    from diffusers import DDIMScheduler, DiTTransformer2DModel

    architecture = dict(
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.head_dim,
        in_channels=1,
        out_channels=1,
        num_layers=cfg.layers,
        sample_size=16,
        patch_size=cfg.patch_size,
        num_embeds_ada_norm=10,
        norm_type="ada_norm_zero",
    )
    torch.manual_seed(cfg.seed)
    transformer = DiTTransformer2DModel(**architecture)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False)
    key = {
        "architecture": architecture,
        "steps": cfg.train_steps,
        "batch": cfg.batch_size,
        "lr": cfg.learning_rate,
        "seed": cfg.seed,
    }
    if cfg.train_steps == 0:
        return DiTModel(
            transformer.eval(),
            scheduler,
            None,
            {i: str(i) for i in range(10)},
            "small DiT, random weights (smoke test)",
            key,
        )
    images, labels = mnist_for_dit(cfg.seed)
    run_dir = cache_dir() / "dit_mnist" / config_hash(key)
    _train(transformer, scheduler, images, labels, cfg, run_dir)
    description = f"small DiT trained here on MNIST ({cfg.train_steps} steps)"
    return DiTModel(transformer.eval(), scheduler, None, {i: str(i) for i in range(10)}, description, key)


def _train(transformer, scheduler, images, labels, cfg: DiTConfig, run_dir: Path) -> None:
    """AdamW on the epsilon loss (see ``geomlib.torch_training``)."""
    x0_all, y_all = torch.as_tensor(images), torch.as_tensor(labels)

    def loss_at_step(_step):
        idx = torch.randint(0, len(x0_all), (cfg.batch_size,))
        noise = torch.randn(cfg.batch_size, *x0_all.shape[1:])
        t = torch.randint(0, scheduler.config.num_train_timesteps, (cfg.batch_size,))
        x_t = scheduler.add_noise(x0_all[idx], noise, t)
        prediction = transformer(x_t, timestep=t, class_labels=y_all[idx]).sample
        return torch.nn.functional.mse_loss(prediction, noise)

    train_resumable(
        {"model": transformer},
        loss_at_step,
        steps=cfg.train_steps,
        learning_rate=cfg.learning_rate,
        seed=cfg.seed,
        run_dir=run_dir,
        progress=cfg.progress,
        desc="train small DiT",
    )


# --- the paper's model -----------------------------------------------------------------------------


def pretrained_dit(source: str, allow_download: bool) -> DiTModel:
    """``DiTPipeline`` weights from a local folder or a hub id (the local cache first).

    Raises ``MissingWeightsError`` with one sentence on what is missing and
    how to provide it, before any other work.
    """
    from diffusers import DiTPipeline

    pipe = load_pipeline(DiTPipeline, source, allow_download, "DiT", "dit_model='/path/to/DiT-XL-2-256'")
    classes = {i: IMAGEWOOF_CLASSES.get(i, str(i)) for i in range(1000)}
    return DiTModel(
        pipe.transformer.eval(),
        pipe.scheduler,
        pipe.vae.eval(),
        classes,
        f"pretrained DiT ({source})",
        {"pretrained": source},
    )


def load_dit(cfg: DiTConfig) -> DiTModel:
    return small_dit(cfg) if cfg.dit_model == "small" else pretrained_dit(cfg.dit_model, cfg.allow_download)


def summary(frame, vendi, correlations, description: str) -> dict:
    """The numbers the figures show, for the closing printout."""
    column = [c for c in vendi.columns if c.startswith("vendi@")][0]
    return {
        "model": description,
        "images": len(frame),
        "median": {name: float(frame[name].median()) for name in ("psi", "nu", "delta")},
        "spearman": {f"{x}~{y}": float(row["spearman rho"]) for (x, y), row in correlations.iterrows()},
        "vendi_per_psi_level_set": {
            scheme: [None if np.isnan(v) else float(v) for v in vendi.loc[scheme, column]]
            for scheme in ("equal width", "equal count")
        },
        "level_set_counts": [int(c) for c in vendi.loc["equal width", "count"]],
    }
