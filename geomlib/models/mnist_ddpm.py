"""The MNIST DDPM of ``notebooks/local_intrinsic_dimension`` and ``notebooks/subspace_editing``: an
MLP noise predictor (``geomlib.models.mlp_denoiser``) on pooled MNIST digits, its data, settings per
preset and quality gate, and the residual-MLP recipe the LID notebook trains on every data set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import data as datasets
from ..core import seeds
from ..settings import Annotated, Count, Positive, Seed, Settings, Weights, at_least, even, inside, one_of
from .diffusion import DDPMSchedule
from .mlp_denoiser import MLPDenoiserConfig, MLPDiffusion, train_mlp_diffusion
from .training import TrainSettings

__all__ = [
    "GATE_SAMPLES",
    "MNISTDDPMSettings",
    "mnist_ddpm_data",
    "mnist_ddpm_gate",
    "train_mnist_ddpm",
    "train_residual_ddpm",
]


@dataclass(frozen=True)
class MNISTDDPMSettings(Settings):
    """The MNIST DDPM of ``notebooks/local_intrinsic_dimension`` (a residual MLP on pooled digits) and its
    data, declared once with their values per preset.

    The LID notebook's config inherits them (its synthetic-data models share the depth, timestep
    features, batch and step size); the editing notebook asks for ``MNISTDDPMSettings.preset(name)``,
    so both build, and find in the cache, the same model.
    """

    seed: Seed  # seeds the data, the models' training, the estimators' noise
    weights: Weights  # the MNIST model: "shipped" (trained by `make models`) or "train" (here)
    mnist_points: Annotated[int, at_least(0)]  # MNIST test digits to estimate at (0: leave MNIST out)
    mnist_size: Annotated[int, one_of(7, 14, 28)]  # MNIST digits are pooled to this size
    mnist_steps: Count  # Adam steps of the MNIST model
    mnist_width: Count  # its width
    mnist_ema: Annotated[float, inside(0, 1)] | None  # its weights' moving-average decay (None: none)
    mnist_sigma_data: Positive | None  # its EDM preconditioning's data deviation (None: a residual MLP)
    depth: Count  # hidden layers
    time_features: Annotated[int, at_least(2), even]  # sinusoidal timestep features
    batch_size: Count
    learning_rate: Positive

    # the values per preset: `default` in full, `smoke` and `paper` as changes to it
    PRESETS = {
        "default": dict(
            seed=0,
            weights="shipped",
            depth=3,
            time_features=32,
            batch_size=256,
            learning_rate=1e-3,
            mnist_points=300,
            mnist_size=14,
            mnist_steps=150_000,
            mnist_width=512,
            mnist_ema=0.9999,
            mnist_sigma_data=0.5,  # EDM's value for images in [-1, 1]
        ),
        "smoke": dict(
            weights="train",
            mnist_points=20,
            mnist_size=7,
            mnist_steps=50,
            mnist_width=32,
            mnist_ema=0.9,
        ),
        "paper": dict(
            weights="train",
            mnist_points=1_000,
            mnist_size=28,
            mnist_steps=40_000,
            mnist_width=1_024,
        ),
    }


def mnist_ddpm_data(settings: MNISTDDPMSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(training digits, held-out test digits, their labels)``: MNIST average-pooled to ``mnist_size`` in
    [-1, 1] and flattened; ``mnist_points`` test digits (at least one) drawn from ``(seed, "lid-mnist")``."""
    train, test = datasets.mnist_vectors(settings.mnist_size, settings.seed)
    labels = datasets.load_mnist(seed=settings.seed).test_labels
    count = max(settings.mnist_points, 1)
    chosen = seeds.rng(settings.seed, "lid-mnist").choice(len(test), count, replace=False)
    return train, test[chosen], labels[chosen]


def train_residual_ddpm(
    name: str,
    train: np.ndarray,
    settings,
    steps: int,
    width: int,
    schedule: DDPMSchedule,
    *,
    ema: float | None = None,
    sigma_data: float | None = None,
    shipped: bool = False,
    progress: bool | None = None,
) -> MLPDiffusion:
    """A residual-MLP DDPM on ``train`` (cached): the recipe of ``notebooks/local_intrinsic_dimension``
    for every data set (``settings``: depth, time_features, batch_size, learning_rate, seed); with
    ``sigma_data``, EDM-preconditioned instead of residual, and with ``ema``, its averaged weights."""
    config = MLPDenoiserConfig(
        data_dim=train.shape[1],
        hidden=width,
        depth=settings.depth,
        time_features=settings.time_features,
        residual=sigma_data is None,
        sigma_data=sigma_data,
    )
    train_settings = TrainSettings(
        steps, settings.batch_size, settings.learning_rate, settings.seed, (steps,), ema=ema
    )
    return train_mlp_diffusion(
        f"lid/{name.replace(' ', '_').replace('^', '')}",
        train,
        config,
        schedule,
        train_settings,
        identity={"dataset": name},
        # a notebook's config says whether to show a bar; `make models` always does
        progress=getattr(settings, "progress", False) if progress is None else progress,
        shipped=shipped,
    )


def train_mnist_ddpm(
    settings: MNISTDDPMSettings, schedule: DDPMSchedule, progress: bool | None = None
) -> MLPDiffusion:
    """The MNIST DDPM of the settings (shipped by ``make models``, or trained here and cached; with a
    progress bar when ``progress``)."""
    train, _, _ = mnist_ddpm_data(settings)
    return train_residual_ddpm(
        "MNIST",
        train,
        settings,
        settings.mnist_steps,
        settings.mnist_width,
        schedule,
        ema=settings.mnist_ema,
        sigma_data=settings.mnist_sigma_data,
        shipped=settings.weights == "shipped",
        progress=progress,
    )


GATE_SAMPLES = 500  # ancestral samples the MNIST DDPM's quality gate scores


def mnist_ddpm_gate(model: MLPDiffusion, settings: MNISTDDPMSettings):
    """The MNIST DDPM's quality gate (``geomlib.methods.quality.confidence_gate``), stated before the
    numbers: of ``GATE_SAMPLES`` ancestral samples (all T steps, noise stream ``(seed, "quality-gate")``,
    clipped to the data's range [-1, 1] as any image of them is), the share the project's digit
    classifier (trained on the model's own training digits) is confident about (> 0.9) must reach
    0.9 x that share on every real held-out digit. The model is unconditional, so there is no class to
    check. Measured at 14 x 14 (`default`): clipped Gaussian noise scores 0.16 and fails (real digits:
    0.66); at the smoke preset's 7 x 7 the linear classifier is sure of a third of clipped noise, so
    there the gate only shows that the code runs."""
    from ..methods.quality import confidence_gate
    from .digit_classifier import digit_classifier

    train, test = datasets.mnist_vectors(settings.mnist_size, settings.seed)
    train_labels, _ = datasets.mnist_vector_labels(settings.seed)
    classify = digit_classifier(train, train_labels, settings.seed)
    samples = model.sample(GATE_SAMPLES, seed=seeds.derive(settings.seed, "quality-gate"))
    return confidence_gate(classify, np.clip(samples, -1.0, 1.0), test)
