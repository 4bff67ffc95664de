"""The settings of ``notebooks/hidden_gaussian``: each parameter, its rules and its values per preset."""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import (
    Annotated,
    Count,
    Positive,
    Settings,
    Steps,
    Weights,
    at_least,
    between,
    each,
    ends_at_train_steps,
    even,
    inside,
    nonempty,
    one_of,
    require,
)

# --- settings: the notebook's parameters, their rules and their values per preset ---------------


@dataclass(frozen=True)
class HiddenGaussianConfig(Settings):
    """Settings of ``notebooks/hidden_gaussian``: memorization, generalization and the Gaussian denoiser."""

    seeds: Annotated[tuple[int, ...], nonempty, each(at_least(0))]  # training seeds of the models on set A
    weights: Weights  # "shipped": the denoisers `make models` trained; "train": train them here
    image_size: Annotated[int, one_of(7, 14, 28)]  # MNIST digits are average-pooled to this size
    train_sizes: Annotated[tuple[int, ...], nonempty, each(at_least(2))]  # training-set sizes N
    train_steps: Count  # Adam steps of every MNIST denoiser
    checkpoints: Steps  # steps kept for the training-time study; the last = train_steps
    width: Count  # hidden width of the residual MLP denoiser
    depth: Count  # hidden layers of the denoiser
    time_features: Annotated[int, at_least(2), even]  # sinusoidal timestep features
    batch_size: Count  # minibatch size
    learning_rate: Positive  # Adam step size
    ema: (
        Annotated[float, inside(0, 1)] | None
    )  # decay of the weights' moving average the models use (None: none)
    sigma_data: Positive | None  # EDM preconditioning with this data deviation (None: a residual MLP)
    num_samples: Count  # samples per model (equal noise across models)
    sample_steps: Count  # deterministic DDIM steps
    similarity_threshold: Annotated[float, inside(0, 1)]  # cosine similarity counted as "the same image"
    sscd_model: str | None  # TorchScript SSCD copy-detection model (local path); None: pixel cosine
    noise_levels: Annotated[tuple[int, ...], nonempty, each(between(0, 999))]  # DDPM timesteps (T = 1000)
    test_inputs: Count  # held-out digits noised for the comparisons
    linearity_pairs: Count  # random input pairs per linearity score
    distill_inputs: Count  # noisy inputs of the least-squares linear distillation (> image_size^2)
    capacity_size: Count  # N of the capacity and training-time study
    capacity_widths: Annotated[tuple[int, ...], each(at_least(1))]  # smaller widths tried at capacity_size
    rank_tols: Annotated[
        tuple[float, ...], nonempty, each(inside(0, 1))
    ]  # rank: values > tol * largest count
    jacobian_inputs: Count  # inputs per noise level for the Jacobian study
    polytope_k: Count  # directions of the cross-polytope for delta
    polytope_r: Positive  # radius of the cross-polytope
    molrg_dim: Count  # MoLRG: ambient dimension d
    molrg_components: Count  # MoLRG: number of subspaces K
    molrg_ranks: Annotated[tuple[int, ...], nonempty, each(at_least(1))]  # MoLRG: subspace ranks r
    molrg_sizes: Annotated[tuple[int, ...], nonempty, each(at_least(2))]  # MoLRG: training-set sizes N
    molrg_steps: Count  # MoLRG: Adam steps per model
    molrg_seeds: Count  # MoLRG: how many of `seeds` train their own mixtures and models
    molrg_width: Count  # MoLRG: hidden width of the denoiser
    progress: bool  # show progress bars

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seeds=(0, 1, 2),
            # trained here, within the notebook's ten minutes; `make models ONLY=hidden_gaussian` trains
            # them 10x longer (scripts/train_models.py: HIDDEN_GAUSSIAN_LONG, about two CPU hours)
            weights="train",
            image_size=14,
            train_sizes=(16, 64, 256, 1000, 2000),
            train_steps=4_000,
            checkpoints=(250, 1_000, 4_000),
            width=512,
            depth=3,
            time_features=64,
            batch_size=128,
            learning_rate=1e-3,
            ema=0.999,
            sigma_data=0.5,  # EDM's value for images in [-1, 1]
            num_samples=64,
            sample_steps=50,
            similarity_threshold=0.9,
            sscd_model=None,
            noise_levels=(10, 50, 100, 200, 300, 500, 700, 800, 900),
            test_inputs=256,
            linearity_pairs=128,
            distill_inputs=1_000,
            capacity_size=64,
            capacity_widths=(32, 128),
            rank_tols=(1e-2, 1e-3),
            jacobian_inputs=16,
            polytope_k=4,
            polytope_r=0.05,
            molrg_dim=48,
            molrg_components=2,
            molrg_ranks=(2, 4, 8),
            molrg_sizes=(2, 4, 8, 16, 32, 64),  # brackets N = r for every rank (the slides' transition)
            molrg_steps=2_000,
            molrg_seeds=2,
            molrg_width=256,
            progress=True,
        ),
        "smoke": dict(
            seeds=(0, 1),
            weights="train",
            image_size=7,
            train_sizes=(8, 32),
            train_steps=100,
            checkpoints=(50, 100),
            ema=0.9,
            width=32,
            depth=2,
            time_features=16,
            num_samples=8,
            sample_steps=5,
            noise_levels=(50, 500),
            test_inputs=16,
            linearity_pairs=8,
            distill_inputs=60,
            capacity_size=8,
            capacity_widths=(16,),
            jacobian_inputs=3,
            molrg_dim=12,
            molrg_ranks=(2,),
            molrg_sizes=(2, 4),
            molrg_steps=100,
            molrg_seeds=1,
            molrg_width=32,
            progress=False,
        ),
        "paper": dict(
            weights="train",
            image_size=28,
            train_sizes=(16, 64, 256, 1000, 2000),
            train_steps=40_000,
            checkpoints=(1_000, 10_000, 40_000),
            width=1024,
            num_samples=256,
            distill_inputs=4_000,
            capacity_widths=(64, 256),
            molrg_steps=10_000,
            sscd_model="models/sscd_disc_mixup.torchscript.pt",  # the SSCD release; the papers' 0.6 threshold
            similarity_threshold=0.6,
        ),
    }

    def cross_checks(self) -> None:
        ends_at_train_steps(self.checkpoints, self.train_steps)
        require(
            self.distill_inputs > self.image_size**2,
            "distill_inputs",
            f"more than the image dimension {self.image_size**2} (a least-squares fit)",
            self.distill_inputs,
        )
        require(
            self.molrg_components * max(self.molrg_ranks) <= self.molrg_dim,
            "molrg_ranks",
            f"ranks with molrg_components * rank <= molrg_dim={self.molrg_dim} (orthogonal subspaces)",
            self.molrg_ranks,
        )
