"""Train the models the notebooks' `default` preset loads, and ship their weights (`make models`).

    python scripts/train_models.py                  # every model not shipped yet (or whose recipe changed)
    python scripts/train_models.py --only toy_ddpm  # the models whose name starts with this
    python scripts/train_models.py --list           # the models, their training time and whether shipped

A model whose quality needs more training than its notebook's ten minutes is
trained here, in the cache (``data/cache/``): resumable, so a run that is
killed resumes bit for bit from its last save, a few minutes back. Its final
weights then go to ``data/models/`` with a manifest entry (file, SHA-256,
recipe hash, steps, training time and the quality-gate score of the shipped
weights, measured by the notebook's own gate). A model already shipped with
its current recipe is skipped. The whole run takes hours on a 2-core CPU
(README); each model's line gives its measured minutes and the ETA.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geomlib import presets  # noqa: E402
from geomlib.models import shipped  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """One shipped model: how to build it from a notebook's `default` settings, and what it costs."""

    name: str  # what --only matches, e.g. "toy_ddpm/dino/seed0"
    notebook: str  # the notebook whose `default` preset reads it
    minutes: float  # its training time on the 2-core CPU, measured (the ETA's unit)
    # weights ("train" | "shipped") -> (the exports of its weights, a function measuring its quality gate)
    build: Callable[[str], tuple[list[dict], Callable]]


def jax_exports(run, name: str, model: str) -> list[dict]:
    """The arguments of ``shipped.export_checkpoint`` for every checkpoint of a JAX ``TrainedRun`` (the
    weights a notebook reads, the moving average where there is one); the last carries the losses."""
    from geomlib.models.checkpoints import read_metadata

    steps = sorted(run.params)
    seconds = float(read_metadata(run.run_dir / f"step_{steps[-1]:07d}.safetensors").get("seconds", 0.0))
    return [
        dict(
            params=run.params[step],
            name=name,
            digest=run.run_dir.name,
            step=step,
            losses=run.losses if step == steps[-1] else None,
            model=model,
            training_seconds=round(seconds, 1),
        )
        for step in steps
    ]


def toy_recipe(dataset: str, seed: int) -> Recipe:
    def build(weights: str):
        from geomlib.studies import toy_ddpm

        cfg = presets.resolve("toy_ddpm", "default", weights=weights)
        study = toy_ddpm.train_toy_model(dataset, cfg, seed)
        exports = jax_exports(study.model.run, f"toy_ddpm/{dataset}", study.model.description)
        return exports, lambda: toy_ddpm.quality_gate(study)

    return Recipe(f"toy_ddpm/{dataset}/seed{seed}", "toy_ddpm", 2.5, build)


# The hidden-Gaussian notebook's `default` trains its 23 denoisers itself (4,000 steps each, within its ten
# minutes). These recipes train them ten times longer, about two CPU hours for all; a notebook run with
# these settings and weights="shipped" reads them.
HIDDEN_GAUSSIAN_LONG = dict(train_steps=40_000, checkpoints=(2_000, 10_000, 40_000), ema=0.9995)


def hidden_gaussian_recipe(size: int, member: str, width: int | None = None) -> Recipe:
    def build(weights: str):
        from geomlib.data import mnist_vectors
        from geomlib.models.diffusion import DDPMSchedule
        from geomlib.studies import hidden_gaussian as hg

        cfg = presets.resolve(
            "hidden_gaussian", "default", weights=weights, progress=True, **HIDDEN_GAUSSIAN_LONG
        )
        train, test = mnist_vectors(cfg.image_size, cfg.seeds[0])
        model = hg.sweep_member(train, cfg, DDPMSchedule(), size, member, width)
        exports = jax_exports(model.run, "hidden_gaussian", model.description)
        return exports, lambda: hg.member_gate(model, train, test, cfg)

    suffix = "" if width is None else f"/width{width}"
    return Recipe(f"hidden_gaussian/N{size}/{member}{suffix}", "hidden_gaussian", 5.0, build)


def mnist_ddpm_recipe() -> Recipe:
    def build(weights: str):
        from geomlib.models.diffusion import DDPMSchedule
        from geomlib.models.mnist_ddpm import MNISTDDPMSettings, mnist_ddpm_gate, train_mnist_ddpm

        settings = MNISTDDPMSettings.preset("default", weights=weights)
        model = train_mnist_ddpm(settings, DDPMSchedule(), progress=True)
        exports = jax_exports(model.run, "lid/MNIST", model.description)
        return exports, lambda: mnist_ddpm_gate(model, settings)

    return Recipe("lid/MNIST", "local_intrinsic_dimension, subspace_editing", 15.0, build)


# The Stable Diffusion notebook's `default` trains its small model itself, within its budget; this recipe
# trains it longer (over an hour of CPU); a run with these settings and weights="shipped" reads it.
SMALL_SD_LONG = dict(memorized_share=0.02, vae_steps=4_000, unet_steps=15_000)


def small_latent_diffusion_recipe() -> Recipe:
    def build(weights: str):
        import torch

        from geomlib.io import cache_dir
        from geomlib.models.latent_diffusion import LatentDiffusionSettings
        from geomlib.models.small_latent_diffusion import small_latent_diffusion, small_model_run
        from geomlib.models.torch_training import training_seconds
        from geomlib.studies import stable_diffusion as sd_study

        settings = LatentDiffusionSettings.preset("default", weights=weights, **SMALL_SD_LONG)
        model = small_latent_diffusion(settings)
        exports = []
        if weights == "train":
            run = small_model_run(settings)
            for part, modules in (("vae", ("vae",)), ("unet", ("unet", "prompts"))):
                state = torch.load(run / part / "final.pt", weights_only=True)
                exports.append(
                    dict(
                        states={name: state[name] for name in modules},
                        relative=(run / part).relative_to(cache_dir()).as_posix(),
                        model=model.description,
                        steps=int(state["step"]),
                        training_seconds=round(training_seconds(run / part), 1),
                    )
                )
        cfg = presets.resolve("stable_diffusion", "default", weights=weights, **SMALL_SD_LONG)
        return exports, lambda: sd_study.sample_gate(model, cfg)

    return Recipe("sd_mnist", "stable_diffusion, dit, reward_guidance", 40.0, build)


RECIPES: list[Recipe] = [
    *(toy_recipe(dataset, seed) for dataset in ("dino", "nine_gaussians") for seed in (0, 1, 2)),
    mnist_ddpm_recipe(),
    *(
        hidden_gaussian_recipe(size, member)
        for size in (16, 64, 256, 1000, 2000)
        for member in ("A0", "A1", "A2", "B")
    ),
    *(hidden_gaussian_recipe(64, member, width) for width in (32, 128) for member in ("A0", "B")),
    small_latent_diffusion_recipe(),
]


def is_shipped(recipe: Recipe) -> bool:
    try:
        recipe.build("shipped")
    except shipped.ShippedWeightsMissing:
        return False
    return True


def make(recipe: Recipe) -> dict:
    """Train (or resume) the model, export its weights, gate the shipped weights, record them."""
    exports, _ = recipe.build("train")
    entries = {}
    for export in exports:
        entries |= (
            shipped.export_torch(**export) if "states" in export else shipped.export_checkpoint(**export)
        )
    shipped.record(entries)  # the files are listed (hash-checked) before the gate loads them
    _, measure_gate = recipe.build("shipped")
    gate = measure_gate()
    verdict = {**gate.as_dict(), "rule": type(gate).__name__}
    date = datetime.date.today().isoformat()
    shipped.record({file: {**entry, "gate": verdict, "made": date} for file, entry in entries.items()})
    return verdict


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="train only the models whose name starts with this")
    parser.add_argument("--list", action="store_true", help="list the models and whether they are shipped")
    args = parser.parse_args(argv)
    chosen = [r for r in RECIPES if r.name.startswith(args.only)]
    if not chosen:
        parser.error(f"argument --only: no model's name starts with {args.only!r}; see --list")
    if args.list:
        for recipe in chosen:
            state = "shipped" if is_shipped(recipe) else "to train"
            print(f"{recipe.name:40s} {recipe.notebook:28s} {recipe.minutes:6.1f} min  {state}")
        return 0
    todo = [r for r in chosen if not is_shipped(r)]
    left = sum(r.minutes for r in todo)
    print(
        f"{len(chosen) - len(todo)} of {len(chosen)} models shipped already; "
        f"{len(todo)} to train, about {left:.0f} min"
    )
    started = time.monotonic()
    for i, recipe in enumerate(todo, 1):
        eta = datetime.datetime.now() + datetime.timedelta(minutes=left)
        print(
            f"[{i}/{len(todo)}] {recipe.name} (about {recipe.minutes:.0f} min; all done about {eta:%H:%M})",
            flush=True,
        )
        began = time.monotonic()
        verdict = make(recipe)
        left -= recipe.minutes
        gate = "passed" if verdict.get("passed") else "FAILED"
        print(f"    {time.monotonic() - began:.0f} s; quality gate {gate}: {verdict}", flush=True)
    print(f"done in {(time.monotonic() - started) / 60:.1f} min; manifest: {shipped.manifest_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
