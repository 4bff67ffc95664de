"""Resumable AdamW training of PyTorch modules, with atomic checkpoints.

The run directory holds ``latest.pt`` while training (every module's state,
the optimizer and the step) and ``final.pt`` once done; a run that is
interrupted resumes from ``latest.pt``, and a finished run only loads
``final.pt``. The randomness of step ``s`` depends on ``(seed, s)`` alone, so
a resumed run takes the same minibatches as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core import seeds
from ..io import atomic_write, cache_dir, drop_if_damaged
from . import shipped as shipped_weights

__all__ = ["train_resumable", "training_seconds"]


def train_resumable(
    modules: dict[str, torch.nn.Module],
    loss_at_step: Callable[[int], torch.Tensor],
    *,
    steps: int,
    learning_rate: float,
    seed: int,
    run_dir: Path,
    progress: bool = False,
    desc: str = "train",
    save_every: int = 500,
    shipped: bool = False,
) -> None:
    """Minimize ``loss_at_step(step)`` over the parameters of ``modules`` for ``steps`` AdamW steps.

    ``loss_at_step`` draws its minibatch and noise from torch's global
    generator, which is seeded from the stream ``(seed, "train-step", step)`` before each call.
    shipped: load the weights ``make models`` shipped for this run (``geomlib.models.shipped``: the
    run folder's path in the cache names them) instead of training.
    """
    if shipped:
        shipped_weights.load_torch(modules, run_dir.relative_to(cache_dir()).as_posix())
        return
    final, latest = run_dir / "final.pt", run_dir / "latest.pt"
    for path in (final, latest):
        if path.exists():
            drop_if_damaged(path, lambda p: torch.load(p, weights_only=True))
    if final.exists():
        _load(modules, final)
        return
    parameters = [p for module in modules.values() for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0)
    start, seconds = 0, 0.0
    if latest.exists():
        state = _load(modules, latest)
        optimizer.load_state_dict(state["optimizer"])
        start, seconds = state["step"], float(state.get("seconds", 0.0))
    began = time.monotonic()
    for module in modules.values():
        module.train()
    losses = []
    bar = tqdm(range(start, steps), desc=desc, disable=not progress, mininterval=5.0)
    for step in bar:
        torch.manual_seed(seeds.derive(seed, "train-step", step))
        loss = loss_at_step(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % save_every == 0 or step + 1 == steps:
            bar.set_postfix(loss=f"{np.mean(losses[-save_every:]):.4f}")
            state = {name: module.state_dict() for name, module in modules.items()}
            elapsed = seconds + time.monotonic() - began
            with atomic_write(latest) as tmp:
                torch.save(
                    {**state, "optimizer": optimizer.state_dict(), "step": step + 1, "seconds": elapsed}, tmp
                )
    for module in modules.values():
        module.eval()
    with atomic_write(final) as tmp:
        elapsed = seconds + time.monotonic() - began
        torch.save(
            {**{n: m.state_dict() for n, m in modules.items()}, "step": steps, "seconds": elapsed}, tmp
        )
    with atomic_write(run_dir / "losses.json") as tmp:
        tmp.write_text(json.dumps(losses))
    latest.unlink(missing_ok=True)


def _load(modules: dict[str, torch.nn.Module], path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    try:
        for name, module in modules.items():
            module.load_state_dict(state[name])
    except (RuntimeError, KeyError) as error:
        raise RuntimeError(
            f"checkpoint {path} does not match the model configuration; delete it to retrain ({error})"
        ) from None
    for module in modules.values():
        module.eval()
    return state


def training_seconds(run_dir: Path) -> float:
    """The training time a finished run's ``final.pt`` records (0 where it records none)."""
    state = torch.load(run_dir / "final.pt", weights_only=True)
    return float(state.get("seconds", 0.0))
