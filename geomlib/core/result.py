"""``LocalGeometry``: the named per-input arrays that ``local_geometry`` returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_write

__all__ = ["LocalGeometry", "concatenate_in_order"]


@dataclass
class LocalGeometry:
    """Descriptors of one generator at a batch of ``N`` inputs.

    Attributes:
        psi: local scaling, shape ``(N,)`` (None if not asked for).
        nu: local rank, shape ``(N,)``.
        rank: number of singular values above the rank tolerance, shape ``(N,)``.
        delta: local complexity summed over the counted layers, shape ``(N,)``.
        delta_by_layer: local complexity of every captured layer, name -> ``(N,)``.
        sigma: singular values, shape ``(N, m)``, when ``return_sigma=True``.
        settings: everything that fixes the numbers (rank_tol, sketch, polytope,
            layers, backend, shapes, neurons per layer, versions).
    """

    psi: np.ndarray | None = None
    nu: np.ndarray | None = None
    rank: np.ndarray | None = None
    delta: np.ndarray | None = None
    delta_by_layer: dict[str, np.ndarray] = field(default_factory=dict)
    sigma: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    _ARRAYS = ("psi", "nu", "rank", "delta", "sigma")

    def __len__(self) -> int:
        for name in self._ARRAYS:
            value = getattr(self, name)
            if value is not None:
                return len(value)
        return 0

    def to_frame(self):
        """One row per input: psi, nu, rank, delta and ``delta/<layer>`` columns."""
        import pandas as pd

        columns = {name: getattr(self, name) for name in ("psi", "nu", "rank", "delta")}
        columns = {name: value for name, value in columns.items() if value is not None}
        columns.update({f"delta/{name}": value for name, value in self.delta_by_layer.items()})
        return pd.DataFrame(columns)

    def reshape(self, *shape: int) -> dict[str, np.ndarray]:
        """psi, nu, rank and delta reshaped (e.g. to a grid's ``(H, W)``), by name."""
        return {
            name: value.reshape(shape)
            for name in ("psi", "nu", "rank", "delta")
            if (value := getattr(self, name)) is not None
        }

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` atomically (an interrupted write leaves no file)."""
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays = {name: value for name, value in arrays.items() if value is not None}
        arrays.update({f"delta_by_layer/{k}": v for k, v in self.delta_by_layer.items()})
        arrays["settings_json"] = np.array(json.dumps(self.settings, sort_keys=True))
        with atomic_write(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> LocalGeometry:
        with np.load(path, allow_pickle=False) as data:
            values = {name: data[name] for name in data.files}
        settings = json.loads(str(values.pop("settings_json")))
        by_layer = {
            name.split("/", 1)[1]: values.pop(name)
            for name in list(values)
            if name.startswith("delta_by_layer/")
        }
        return cls(**values, delta_by_layer=by_layer, settings=settings)


def concatenate_in_order(parts: list[LocalGeometry], order: np.ndarray) -> LocalGeometry:
    """Join results computed on groups of inputs, in input order (``order``: each joined row's input)."""
    inverse = np.argsort(order)

    def join(values):
        return None if values[0] is None else np.concatenate(values)[inverse]

    return LocalGeometry(
        psi=join([p.psi for p in parts]),
        nu=join([p.nu for p in parts]),
        rank=join([p.rank for p in parts]),
        delta=join([p.delta for p in parts]),
        delta_by_layer={
            name: join([p.delta_by_layer[name] for p in parts]) for name in parts[0].delta_by_layer
        },
        sigma=join([p.sigma for p in parts]),
        settings=parts[0].settings,
    )
