"""Training loop with optax and resumable, cached checkpoints.

``train_with_checkpoints`` trains ``params`` on ``loss_fn`` with Adam and
writes a checkpoint at each requested step into a run folder named by the
hash of everything that determines the result. A later call with the same
config loads finished checkpoints instead of training, and resumes from the
latest one after an interruption.

Randomness is a function of the step number alone (``fold_in(key, step)``
for the minibatch and the loss's noise), so a resumed run is identical to an
uninterrupted one, and adding steps or checkpoints reuses the work done.

The step is compiled with the data and the key as arguments and the loss
function as a static one, so the runs of a sweep that pass the same loss
function object (``mlp_denoiser`` and ``vae`` keep one per network) compile
once per data shape: bit for bit the same parameters, and the hidden-Gaussian
notebook's 20-model sweep no longer compiles 60 times.
"""

from __future__ import annotations

import json
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
from .checkpoints import load_checkpoint, read_all, save_checkpoint

__all__ = ["TrainSettings", "TrainedRun", "train_with_checkpoints"]


@dataclass(frozen=True)
class TrainSettings:
    steps: int  # total optimizer steps
    batch_size: int  # minibatch size (drawn with replacement)
    learning_rate: float  # Adam step size (constant)
    seed: int  # seeds the minibatches and the loss's noise
    checkpoints: tuple[int, ...]  # steps at which to save; the last must equal steps

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}")
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


def _train_step(carry, step, data, base_key, loss_fn, learning_rate, batch_size):
    params, opt_state = carry
    batch_key, loss_key = jax.random.split(jax.random.fold_in(base_key, step))
    batch = data[jax.random.randint(batch_key, (batch_size,), 0, len(data))]
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, loss_key)
    updates, opt_state = optax.adam(learning_rate).update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss


# The data and the key are arguments, not constants, and the loss is a static argument, so runs
# that pass the same loss function (the seeds of a sweep, its training sets of one size) share
# one compilation.
_HYPERPARAMETERS = ("loss_fn", "learning_rate", "batch_size")
_one_step = jax.jit(_train_step, static_argnames=_HYPERPARAMETERS)


@partial(jax.jit, static_argnames=("length", *_HYPERPARAMETERS))
def _scanned_segment(state, data, base_key, start, *, length, **hyperparameters):
    (params, opt_state), losses = jax.lax.scan(
        partial(_train_step, data=data, base_key=base_key, **hyperparameters),
        (state["params"], state["opt_state"]),
        start + jnp.arange(length),
    )
    return {"params": params, "opt_state": opt_state}, losses


def _looped_segment(state, data, base_key, start, *, length, **hyperparameters):
    carry, losses = (state["params"], state["opt_state"]), []
    for step in range(int(start), int(start) + length):
        carry, loss = _one_step(carry, jnp.asarray(step), data, base_key, **hyperparameters)
        losses.append(loss)
    return {"params": carry[0], "opt_state": carry[1]}, jnp.stack(losses)


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
    digest = config_hash(identity)
    run_dir = cache_dir() / name / digest
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "config.json"
    if not config_file.exists():
        with atomic_write(config_file) as tmp:
            tmp.write_text(json.dumps(identity, indent=1, sort_keys=True, default=str))

    template = {"params": init_params, "opt_state": optax.adam(settings.learning_rate).init(init_params)}
    data = jnp.asarray(data)
    base_key = seeds.jax_key(settings.seed, "minibatches")
    hyperparameters = dict(
        loss_fn=loss_fn, learning_rate=float(settings.learning_rate), batch_size=settings.batch_size
    )

    def run_segment(state, start, length):
        segment = _scanned_segment if scan else _looped_segment
        return segment(state, data, base_key, start, length=length, **hyperparameters)

    expect = {"config_hash": digest}
    for path in run_dir.glob("step_*.safetensors"):
        drop_if_damaged(path, read_all)
    done = [s for s in settings.checkpoints if _checkpoint_path(run_dir, s).exists()]
    # Resume from the latest checkpoint on disk (possibly beyond this run's steps).
    on_disk = sorted(int(p.stem.split("_")[1]) for p in run_dir.glob("step_*.safetensors"))
    needed = [s for s in settings.checkpoints if s not in done]
    start_from = max([s for s in on_disk if not needed or s < needed[0]], default=0)

    params_at: dict[int, object] = {}
    state, losses = template, np.zeros(0, np.float32)
    if start_from:
        state, _, extra = load_checkpoint(_checkpoint_path(run_dir, start_from), template, expect=expect)
        losses = extra["losses"]
    step = start_from

    with tqdm(
        total=settings.steps,
        initial=step,
        desc=f"train {name}",
        disable=not progress or not needed,
        mininterval=5.0,
    ) as bar:
        for target in needed:
            while step < target:
                length = min(log_every - step % log_every, target - step)
                state, segment_losses = run_segment(state, jnp.asarray(step), length)
                losses = np.concatenate([losses, np.asarray(segment_losses)])
                step += length
                bar.update(length)
                bar.set_postfix(loss=f"{float(np.mean(np.asarray(segment_losses))):.4f}")
            save_checkpoint(
                _checkpoint_path(run_dir, step),
                state,
                metadata={**expect, "step": step},
                extra={"losses": losses},
            )

    for s in settings.checkpoints:
        state_s, _, extra = load_checkpoint(_checkpoint_path(run_dir, s), template, expect=expect)
        params_at[s] = jax.tree_util.tree_map(jnp.asarray, state_s["params"])
    losses = extra["losses"]
    return TrainedRun(params=params_at, losses=losses, run_dir=run_dir)
