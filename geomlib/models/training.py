"""Training loop with optax and resumable, cached checkpoints.

``train_with_checkpoints`` trains ``params`` on ``loss_fn`` with Adam and
writes a checkpoint at each requested step into a run folder named by the
hash of everything that determines the result. A later call with the same
config loads finished checkpoints instead of training, and resumes from the
latest one after an interruption.

Randomness is a function of the step number alone (``fold_in(key, step)``
for the minibatch and the loss's noise), so a resumed run is identical to an
uninterrupted one, and adding steps or checkpoints reuses the work done. A
long run also keeps its whole state in ``resume.safetensors`` every few
minutes (``save_every``), so a run killed between checkpoints loses minutes,
not hours, and still ends bit for bit where an uninterrupted one does.

With ``TrainSettings.ema``, an exponential moving average of the weights is
kept beside them (Polyak averaging, as diffusion models are trained), and the
averaged weights are the model each checkpoint returns.

A run of a model that ships with the project (``geomlib.models.shipped``:
made by ``make models``) is loaded from ``data/models/`` instead, checked
against the manifest's hash, when the caller asks for the shipped weights.

The step is compiled with the data and the key as arguments and the loss
function as a static one, so the runs of a sweep that pass the same loss
function object (``mlp_denoiser`` and ``vae`` keep one per network) compile
once per data shape: bit for bit the same parameters, and the hidden-Gaussian
notebook's 20-model sweep no longer compiles 60 times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from ..core import seeds
from ..io import array_hash, atomic_write, cache_dir, config_hash, drop_if_damaged
from . import shipped as shipped_weights
from .checkpoints import load_checkpoint, read_all, read_metadata, save_checkpoint

__all__ = ["TrainSettings", "TrainedRun", "train_with_checkpoints"]


@dataclass(frozen=True)
class TrainSettings:
    steps: int  # total optimizer steps
    batch_size: int  # minibatch size (drawn with replacement)
    learning_rate: float  # Adam step size (constant)
    seed: int  # seeds the minibatches and the loss's noise
    checkpoints: tuple[int, ...]  # steps at which to save; the last must equal steps
    ema: float | None = None  # decay of the weights' moving average, returned at checkpoints (None: none)

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise ValueError(f"ema must be None or a decay in (0, 1); got {self.ema!r}")
        steps = tuple(self.checkpoints)
        if not steps or list(steps) != sorted(set(steps)) or steps[0] < 1 or steps[-1] != self.steps:
            raise ValueError(
                f"checkpoints must be increasing steps in [1, steps] ending at steps={self.steps}; "
                f"got {self.checkpoints!r}"
            )


@dataclass
class TrainedRun:
    params: dict[int, object]  # step -> parameters
    losses: np.ndarray  # loss at every step, shape (steps,)
    run_dir: Path


def _train_step(carry, step, data, base_key, loss_fn, learning_rate, batch_size, ema):
    params, opt_state, average = carry
    batch_key, loss_key = jax.random.split(jax.random.fold_in(base_key, step))
    batch = data[jax.random.randint(batch_key, (batch_size,), 0, len(data))]
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, loss_key)
    updates, opt_state = optax.adam(learning_rate).update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    if ema is not None:  # Polyak averaging: average <- ema * average + (1 - ema) * params
        average = optax.incremental_update(params, average, 1.0 - ema)
    return (params, opt_state, average), loss


# The data and the key are arguments, not constants, and the loss is a static argument, so runs
# that pass the same loss function (the seeds of a sweep, its training sets of one size) share
# one compilation.
_HYPERPARAMETERS = ("loss_fn", "learning_rate", "batch_size", "ema")
_one_step = jax.jit(_train_step, static_argnames=_HYPERPARAMETERS)
_STATE = ("params", "opt_state", "ema")  # a run's whole state; "ema" is None without averaging


@partial(jax.jit, static_argnames=("length", *_HYPERPARAMETERS))
def _scanned_segment(state, data, base_key, start, *, length, **hyperparameters):
    carry, losses = jax.lax.scan(
        partial(_train_step, data=data, base_key=base_key, **hyperparameters),
        tuple(state[key] for key in _STATE),
        start + jnp.arange(length),
    )
    return dict(zip(_STATE, carry, strict=True)), losses


def _looped_segment(state, data, base_key, start, *, length, **hyperparameters):
    carry, losses = tuple(state[key] for key in _STATE), []
    for step in range(int(start), int(start) + length):
        carry, loss = _one_step(carry, jnp.asarray(step), data, base_key, **hyperparameters)
        losses.append(loss)
    return dict(zip(_STATE, carry, strict=True)), jnp.stack(losses)


def _checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / f"step_{step:07d}.safetensors"


def train_with_checkpoints(
    name: str,
    config: dict,
    init_params,
    loss_fn: Callable,
    data: np.ndarray,
    settings: TrainSettings,
    *,
    progress: bool = True,
    log_every: int = 1000,
    scan: bool = True,
    shipped: bool = False,
    save_every: float = 180.0,
) -> TrainedRun:
    """Train (or load) and return the parameters at every checkpoint step.

    Args:
        name: folder under the cache (e.g. ``"toy_ddpm"``).
        config: everything besides ``settings`` that determines the result (model,
            data, schedule); hashed with the seed, batch size and learning rate to
            name the run folder. The step counts are not hashed: a longer run
            shares its first checkpoints with a shorter one.
        loss_fn: ``(params, batch, key) -> scalar``. The training step is compiled once per
            loss function object (and data shape), so runs that pass the same object, such as
            the seeds of a sweep, share one compilation.
        scan: run each segment of steps as one compiled ``lax.scan`` (fastest for
            small dense networks); False runs a compiled step in a Python loop,
            which is about 5x faster for convolutions on the CPU, where XLA's
            convolutions inside a loop are slow. Either gives the same steps.
        shipped: load the run's checkpoints from the weights shipped with the project
            (``data/models/``, made by ``make models``), checked against the manifest, instead
            of training; one sentence naming ``make models`` when they are missing.
        save_every: seconds between saves of the whole training state (``resume.safetensors``),
            from which a killed run resumes.
    """
    identity = {
        **config,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "seed": settings.seed,
        "data_hash": array_hash(np.asarray(data, np.float32)),
        # A change of the model's parameters (names or shapes) starts a new run folder.
        "param_shapes": {
            jax.tree_util.keystr(path): list(np.shape(leaf))
            for path, leaf in jax.tree_util.tree_flatten_with_path(init_params)[0]
        },
    }
    if settings.ema is not None:  # hashed only when used, so runs without it keep their folders
        identity["ema"] = settings.ema
    digest = config_hash(identity)
    if shipped:
        return shipped_weights.load_run(name, digest, init_params, settings.checkpoints)
    run_dir = cache_dir() / name / digest
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "config.json"
    if not config_file.exists():
        with atomic_write(config_file) as tmp:
            tmp.write_text(json.dumps(identity, indent=1, sort_keys=True, default=str))

    average = init_params if settings.ema is not None else None
    optimizer_state = optax.adam(settings.learning_rate).init(init_params)
    template = {"params": init_params, "opt_state": optimizer_state, "ema": average}
    data = jnp.asarray(data)
    base_key = seeds.jax_key(settings.seed, "minibatches")
    hyperparameters = dict(
        loss_fn=loss_fn,
        learning_rate=float(settings.learning_rate),
        batch_size=settings.batch_size,
        ema=settings.ema,
    )

    def run_segment(state, start, length):
        segment = _scanned_segment if scan else _looped_segment
        return segment(state, data, base_key, start, length=length, **hyperparameters)

    expect = {"config_hash": digest}
    resume = run_dir / "resume.safetensors"
    for path in [*run_dir.glob("step_*.safetensors"), resume]:
        if path.exists():
            drop_if_damaged(path, read_all)
    done = [s for s in settings.checkpoints if _checkpoint_path(run_dir, s).exists()]
    needed = [s for s in settings.checkpoints if s not in done]
    # Resume from the latest state on disk (a checkpoint, possibly beyond this run's steps, or the
    # periodic save) that lies before the first checkpoint still to write.
    saved = {int(p.stem.split("_")[1]): p for p in run_dir.glob("step_*.safetensors")}
    if resume.exists():
        saved.setdefault(int(read_metadata(resume)["step"]), resume)
    start_from = max([s for s in saved if not needed or s <= needed[0]], default=0)

    state, losses, seconds = template, np.zeros(0, np.float32), 0.0
    if start_from and needed:
        state, metadata, extra = load_checkpoint(saved[start_from], template, expect=expect)
        losses, seconds = extra["losses"][:start_from], float(metadata.get("seconds", 0.0))
    step = start_from

    def save(path: Path) -> None:
        save_checkpoint(
            path, state, metadata={**expect, "step": step, "seconds": seconds}, extra={"losses": losses}
        )

    last_save = time.monotonic()
    with tqdm(
        total=settings.steps,
        initial=step,
        desc=f"train {name}",
        disable=not progress or not needed,
        mininterval=5.0,
    ) as bar:
        for target in needed:
            while step < target:
                began = time.monotonic()
                length = min(log_every - step % log_every, target - step)
                state, segment_losses = run_segment(state, jnp.asarray(step), length)
                losses = np.concatenate([losses, np.asarray(segment_losses)])
                step += length
                seconds += time.monotonic() - began
                bar.update(length)
                bar.set_postfix(loss=f"{float(np.mean(np.asarray(segment_losses))):.4f}")
                if step < target and time.monotonic() - last_save > save_every:
                    save(resume)
                    last_save = time.monotonic()
            save(_checkpoint_path(run_dir, step))
    if resume.exists() and int(read_metadata(resume)["step"]) <= step:  # a longer run's stays
        resume.unlink()

    params_at: dict[int, object] = {}
    for s in settings.checkpoints:
        state_s, _, extra = load_checkpoint(_checkpoint_path(run_dir, s), template, expect=expect)
        chosen = state_s["ema"] if settings.ema is not None else state_s["params"]
        params_at[s] = jax.tree_util.tree_map(jnp.asarray, chosen)
    losses = extra["losses"]
    return TrainedRun(params=params_at, losses=losses, run_dir=run_dir)
