"""The trained weights that ship with the project: made by ``make models``, loaded by the `default` runs.

A model whose quality needs more training than its notebook's ten minutes is
trained once by ``make models`` (``scripts/train_models.py``: hours on a
2-core CPU, resumable) and its final weights are stored in ``data/models/``
under the same path the cache uses, ``<name>/<run hash>/step_<steps>.safetensors``
(the run hash is that of everything that fixes the weights: architecture,
data, seed, schedule, optimizer). ``data/models/manifest.json`` lists each
file with its SHA-256, the recipe (run hash), steps, training time and the
model's quality-gate score measured when it was made. A notebook's `default`
preset loads these files, each checked against its hash; a missing or
altered file stops the run with one sentence naming ``make models``.

The weights are trained in float32 and stored in float16 (half the size, so
every model fits the repository); they are read back as float32. The
shipped, rounded weights are the model: the notebooks analyse them and the
manifest's gate scores are theirs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..io import atomic_write, data_dir
from .checkpoints import load_checkpoint, read_metadata, save_checkpoint

__all__ = [
    "ShippedWeightsMissing",
    "export_checkpoint",
    "export_torch",
    "load_torch",
    "file_sha256",
    "RecordedGate",
    "load_run",
    "recorded_gate",
    "manifest",
    "models_dir",
    "record",
    "shipped_path",
    "verified",
]


class ShippedWeightsMissing(FileNotFoundError):
    """A `default` run asked for trained weights that ``make models`` has not written (or that changed)."""


def models_dir() -> Path:
    return data_dir() / "models"


def manifest_path() -> Path:
    return models_dir() / "manifest.json"


def manifest() -> dict[str, dict]:
    """``{file (relative to data/models): its entry}``; empty when nothing is shipped yet."""
    path = manifest_path()
    return json.loads(path.read_text())["files"] if path.exists() else {}


def record(entries: dict[str, dict]) -> None:
    """Add (or replace) manifest entries, atomically."""
    files = manifest() | entries
    text = json.dumps({"files": dict(sorted(files.items()))}, indent=1, sort_keys=True) + "\n"
    with atomic_write(manifest_path()) as tmp:
        tmp.write_text(text)


def shipped_path(name: str, digest: str, step: int) -> Path:
    return models_dir() / name / digest / f"step_{step:07d}.safetensors"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _make_models(name: str) -> str:
    return f"run `make models ONLY={name}` (or `make models` for all of them)"


def verified(path: Path) -> Path:
    """``path`` if the manifest lists it with the file's own hash; one sentence otherwise."""
    relative = path.relative_to(models_dir()).as_posix()
    parts = relative.split("/")  # <name>/<run hash>/...: the name is what `make models ONLY=` matches
    name = "/".join(parts[: next(i for i, part in enumerate(parts) if re.fullmatch(r"[0-9a-f]{12}", part))])
    entry = manifest().get(relative)
    if not path.is_file() or entry is None:
        raise ShippedWeightsMissing(
            f"the trained weights data/models/{relative} are missing (weights='shipped' loads those of the "
            f"`default` settings): {_make_models(name)}, or set weights='train' to train this model here"
        )
    if file_sha256(path) != entry["sha256"]:
        raise ShippedWeightsMissing(
            f"data/models/{relative} does not match the hash in data/models/manifest.json (an altered "
            f"or partly copied file): {_make_models(name)} to write it again"
        )
    return path


def load_run(name: str, digest: str, init_params, checkpoints):
    """The shipped weights of run ``name/digest`` at ``checkpoints``, as ``training.TrainedRun``."""
    from .training import TrainedRun

    params_at, losses = {}, np.zeros(0, np.float32)
    for step in checkpoints:
        path = verified(shipped_path(name, digest, step))
        tree, _, extra = load_checkpoint(path, {"params": init_params}, expect={"config_hash": digest})
        params_at[step] = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), tree["params"])
        losses = np.asarray(extra.get("losses", losses), np.float32)
    return TrainedRun(params=params_at, losses=losses, run_dir=shipped_path(name, digest, 0).parent)


def export_checkpoint(params, *, name: str, digest: str, step: int, losses=None, **facts) -> dict:
    """Write ``params`` (the model a notebook reads, e.g. the averaged weights) as a shipped file and
    return its manifest entry: ``{file: {sha256, recipe, steps, ...facts}}``."""
    path = shipped_path(name, digest, step)
    extra = {} if losses is None else {"losses": np.asarray(losses, np.float16)}
    half = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float16), params)
    save_checkpoint(path, {"params": half}, metadata={"config_hash": digest, "step": step}, extra=extra)
    relative = path.relative_to(models_dir()).as_posix()
    return {relative: {"sha256": file_sha256(path), "recipe": digest, "steps": step, **facts}}


def training_seconds(path: Path) -> float:
    """The cumulative training time a cached checkpoint records (0 where it records none)."""
    return float(read_metadata(path).get("seconds", 0.0))


TORCH_FILE = "final.safetensors"  # a PyTorch run's shipped weights: every module's state, one file


def load_torch(modules: dict, relative: str) -> None:
    """Load the shipped weights of the PyTorch run ``relative`` (its cache folder, relative to the cache,
    e.g. ``sd_mnist/<hash>/unet``) into ``modules``, checked against the manifest."""
    from safetensors.torch import load_file

    path = verified(models_dir() / relative / TORCH_FILE)
    state = load_file(str(path))
    for name, module in modules.items():
        prefix = f"{name}/"
        module.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        module.eval()


def export_torch(states: dict, relative: str, **facts) -> dict:
    """Write ``states`` (a state dict per module name) as the shipped weights of the PyTorch run
    ``relative`` (its cache folder relative to the cache); returns its manifest entry."""
    import torch
    from safetensors.torch import save_file

    path = models_dir() / relative / TORCH_FILE
    flat = {
        f"{name}/{key}": value.detach()
        .to(torch.float16 if value.is_floating_point() else value.dtype)
        .clone()
        for name, state in states.items()
        for key, value in state.items()
    }
    with atomic_write(path) as tmp:
        save_file(flat, str(tmp))
    file = path.relative_to(models_dir()).as_posix()
    return {file: {"sha256": file_sha256(path), "recipe": relative.split("/")[1], **facts}}


class RecordedGate:
    """A shipped model's quality gate as ``make models`` measured and recorded it (the manifest's entry
    for the run's last checkpoint): for a notebook that reads a model another notebook gates."""

    def __init__(self, entry: dict):
        self.entry = entry

    @property
    def passed(self) -> bool:
        return bool(self.entry.get("passed"))

    def as_dict(self) -> dict:
        return dict(self.entry)

    def __str__(self) -> str:
        return f"quality gate recorded by make models ({self.entry.get('rule')}): " + (
            "PASSED" if self.passed else "FAILED"
        )


def recorded_gate(run) -> RecordedGate | None:
    """The manifest's gate of a shipped run: a ``training.TrainedRun`` loaded by ``load_run``, or the
    run's folder (in the cache or under ``data/models``, e.g. a PyTorch run's). None for a run no
    manifest records (trained here, or a gate not measured)."""
    folder = Path(getattr(run, "run_dir", run))
    if models_dir() not in folder.parents:
        from ..io import cache_dir

        if cache_dir() not in folder.parents:
            return None
        folder = models_dir() / folder.relative_to(cache_dir())  # the same run, shipped
    relative = folder.relative_to(models_dir()).as_posix()
    entries = [
        entry for file, entry in manifest().items() if file.startswith(relative + "/") and "gate" in entry
    ]
    return RecordedGate(max(entries, key=lambda e: e.get("steps", 0))["gate"]) if entries else None
