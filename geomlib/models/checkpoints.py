"""Save and load JAX pytrees as safetensors files, atomically and checked.

A checkpoint stores every leaf under its pytree path (``['params']['dense_0']['kernel']``)
plus JSON metadata (step, config, config hash). Loading needs a template
pytree of the expected structure (e.g. freshly initialized parameters) and
refuses a file whose keys, shapes or config do not match, naming what differs.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from ..io import atomic_write

__all__ = ["CheckpointMismatch", "load_checkpoint", "read_all", "read_metadata", "save_checkpoint"]


class CheckpointMismatch(ValueError):
    """The checkpoint on disk was written for another config or model."""


def _flatten(tree) -> dict[str, np.ndarray]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


EXTRA = "extra/"  # prefix of arrays stored beside the tree (not checked against the template)


def save_checkpoint(path: str | Path, tree, *, metadata: dict, extra: dict | None = None) -> None:
    """Write ``tree``, ``metadata`` (JSON-able) and ``extra`` arrays to ``path``; atomic."""
    arrays = {key: np.ascontiguousarray(value) for key, value in _flatten(tree).items()}
    arrays.update({EXTRA + key: np.ascontiguousarray(value) for key, value in (extra or {}).items()})
    with atomic_write(path) as tmp:
        save_file(arrays, str(tmp), metadata={"geomlib": json.dumps(metadata, sort_keys=True)})


def read_all(path: Path) -> None:
    """Read every tensor of a safetensors file (raises on a cut or corrupt one)."""
    with safe_open(str(path), framework="numpy") as f:
        for key in f.keys():
            f.get_tensor(key)


def read_metadata(path: str | Path) -> dict:
    with safe_open(str(path), framework="numpy") as f:
        return json.loads((f.metadata() or {}).get("geomlib", "{}"))


def load_checkpoint(path: str | Path, template, *, expect: dict | None = None):
    """Load ``path`` into the structure of ``template``; returns ``(tree, metadata, extra)``.

    expect: metadata entries that must match (e.g. ``{"config_hash": ...}``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    metadata = read_metadata(path)
    for key, value in (expect or {}).items():
        if metadata.get(key) != value:
            raise CheckpointMismatch(
                f"checkpoint {path} has {key}={metadata.get(key)!r} but the config needs {value!r}; "
                "delete it or use the config it was trained with"
            )
    with safe_open(str(path), framework="numpy") as f:
        stored = {key: f.get_tensor(key) for key in f.keys()}
    extras = {key[len(EXTRA) :]: stored.pop(key) for key in list(stored) if key.startswith(EXTRA)}
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected = {jax.tree_util.keystr(p): np.shape(leaf) for p, leaf in leaves}
    for key, shape in expected.items():  # safetensors stores 0-d arrays as shape (1,)
        if shape == () and key in stored and stored[key].shape == (1,):
            stored[key] = stored[key].reshape(())
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = [k for k in expected if k in stored and stored[k].shape != expected[k]]
    if missing or unexpected or wrong:
        details = [f"missing {missing[:3]}" if missing else ""]
        details += [f"unexpected {unexpected[:3]}" if unexpected else ""]
        details += [f"{k} has shape {stored[k].shape}, expected {expected[k]}" for k in wrong[:3]]
        raise CheckpointMismatch(
            f"checkpoint {path} does not match the model: " + "; ".join(d for d in details if d)
        )
    tree = jax.tree_util.tree_unflatten(treedef, [stored[jax.tree_util.keystr(p)] for p, _ in leaves])
    return tree, metadata, extras
