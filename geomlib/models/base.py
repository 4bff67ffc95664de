"""The interface every generator implements, and its one caching rule.

The four families (the toy MLP DDPM, the beta-VAE, the DiT and the latent
diffusion pipeline) implement :class:`Generator` with the same signatures, so
a study, ``geomlib.tools.scale`` or a user switches models without adapters;
``tests/unit/test_generators.py`` runs every family through the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from ..core.directions import Polytope, Sketch
from ..core.result import LocalGeometry, concatenate_in_order
from ..io import array_hash, cache_dir, config_hash

T = TypeVar("T")

__all__ = [
    "PEAK_MEMORY_COLUMN",
    "Generator",
    "cached_geometry",
    "cached_map_geometry",
    "check_first_index",
    "check_kind",
    "geometry_in_shards",
    "geometry_key",
    "in_shards",
    "parse_worker",
    "per_condition",
    "shard_count",
    "wanted_descriptors",
]


@runtime_checkable
class Generator(Protocol):
    """What every generator offers, with the same signatures.

    - ``sample(conditions, *, seed, **options)``: final samples (latents for
      the latent models) as NumPy. ``conditions`` is a count for an
      unconditional model or one condition per sample (class labels,
      prompts). Sample ``i`` depends only on ``(seed, i)`` and its condition:
      ``sample(n)[:m]`` equals ``sample(m)``, whatever the batch. Options a
      model has no use for are refused (keyword-only arguments). The PyTorch
      families (DiT, latent diffusion) also take ``first_index=a``:
      ``sample(c[a:b], first_index=a)`` is ``sample(c)[a:b]``, so a long run
      can be kept in parts.
    - ``decode(samples)``: images in [0, 1] (``(N, H, W)`` or ``(N, H, W, 3)``);
      the toy model's samples are points and decode to themselves.
    - ``input_shape``: the shape of one input of the analysed maps.
    - ``map_kinds``: the maps it offers; the first is the default.
    - ``analysed_map(kind=None, *, condition=None, timestep=0)``: a function
      of ONE input, ``x -> (output, {layer: pre-activation})``, for
      ``local_geometry(..., has_aux=True)`` and ``linear_operators``.
    - ``posterior_mean(inputs, *, timestep, condition=None)``: the x0
      prediction of a batch of noisy inputs (diffusion models; the beta-VAE
      refuses it).
    - ``geometry(inputs, *, kind, condition, timestep, sketch, polytope,
      descriptors, progress)``: psi, nu (and delta) of that map at each
      input, cached on disk by :func:`cached_geometry` under
      :func:`geometry_key`. ``condition`` is one condition for every input or
      a sequence of one per input; ``descriptors=None`` means psi and nu, plus
      delta when a polytope is given.
    """

    description: str
    model_key: dict

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    @property
    def map_kinds(self) -> tuple[str, ...]: ...

    def sample(self, conditions, /, *, seed: int, **options) -> np.ndarray: ...

    def decode(self, samples: np.ndarray) -> np.ndarray: ...

    def analysed_map(self, kind: str | None = None, *, condition=None, timestep: int = 0) -> Callable: ...

    def posterior_mean(self, inputs: np.ndarray, *, timestep: int, condition=None) -> np.ndarray: ...

    def geometry(
        self,
        inputs: np.ndarray,
        *,
        kind: str | None = None,
        condition=None,
        timestep: int = 0,
        sketch: Sketch | None = None,
        polytope: Polytope | None = None,
        descriptors: Sequence[str] | None = None,
        progress: bool = False,
    ) -> LocalGeometry: ...


def check_kind(kind: str | None, kinds: tuple[str, ...], model: str) -> str:
    """``kind`` (None: the first of ``kinds``), refused with a sentence when the model has no such map."""
    if kind is None:
        return kinds[0]
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds} for {model}; got {kind!r}")
    return kind


def wanted_descriptors(descriptors: Sequence[str] | None, polytope: Polytope | None) -> tuple[str, ...]:
    """The one default: psi and nu, plus delta when a polytope is given."""
    if descriptors is not None:
        return tuple(descriptors)
    return ("psi", "nu", "delta") if polytope is not None else ("psi", "nu")


def geometry_key(inputs, *, kind, condition, timestep, sketch, polytope, descriptors, **extra) -> dict:
    """Everything besides the weights that fixes a ``geometry`` result: the one caching rule."""
    if condition is not None and not isinstance(condition, str | int | float):
        condition = array_hash(np.asarray(condition))
    return {
        "inputs": array_hash(inputs),
        "kind": kind,
        "condition": condition,
        "timestep": int(timestep),
        "sketch": sketch and sketch.as_dict(),
        "polytope": polytope and polytope.as_dict(),
        "descriptors": list(descriptors),
        **extra,
    }


def cached_map_geometry(
    model: Generator,
    inputs,
    *,
    kind: str | None,
    condition,
    timestep: int,
    sketch: Sketch | None,
    polytope: Polytope | None,
    descriptors: Sequence[str] | None,
    compute: Callable[[str, tuple[str, ...]], LocalGeometry],
    **extra,
) -> LocalGeometry:
    """What every ``Generator.geometry`` shares: the map kind checked, the one default for descriptors,
    the one cache key (``extra``: what else fixes the numbers), and ``compute(kind, descriptors)`` run
    once per key."""
    kind = check_kind(kind, model.map_kinds, model.description)
    wanted = wanted_descriptors(descriptors, polytope)
    key = geometry_key(
        inputs,
        kind=kind,
        condition=condition,
        timestep=timestep,
        sketch=sketch,
        polytope=polytope,
        descriptors=wanted,
        **extra,
    )
    return cached_geometry(model.model_key, key, lambda: compute(kind, wanted))


def per_condition(inputs: np.ndarray, condition, compute: Callable[[np.ndarray, object], LocalGeometry]):
    """``compute(inputs, condition)``; a sequence of one condition per input is split into groups of
    equal condition (one map each) and the results put back in input order."""
    if condition is None or isinstance(condition, str | int | np.integer):
        return compute(inputs, condition)
    condition = np.asarray(condition)
    if len(condition) != len(inputs):
        raise ValueError(
            f"condition must be one condition or one per input ({len(inputs)}); got {len(condition)}"
        )
    parts, order = [], []
    for value in np.unique(condition):
        members = np.flatnonzero(condition == value)
        parts.append(compute(inputs[members], value.item()))
        order.append(members)
    return concatenate_in_order(parts, np.concatenate(order))


def cached_geometry(model_key: dict | None, key: dict, compute: Callable[[], LocalGeometry]) -> LocalGeometry:
    """``compute()`` once per (model, key): stored under ``<cache>/geometry/`` and loaded after that.

    model_key: what identifies the model's weights (its training config, or a
    pretrained source); None or empty means "not reproducible from a key"
    (e.g. weights built in a test), so nothing is cached. key: everything else
    that fixes the numbers (inputs' hash, map, sketch, polytope, ...).
    """
    if not model_key:
        return compute()
    path = cache_dir() / "geometry" / config_hash(model_key) / f"{config_hash(key)}.npz"
    if path.exists():
        return LocalGeometry.load(path)
    geom = compute()
    geom.save(path)
    return geom


def parse_worker(worker: str) -> tuple[int, int]:
    """``"j/n"`` (process j of n, counted from 0) as ``(j, n)``; one sentence naming the setting otherwise."""
    try:
        index, count = (int(part) for part in str(worker).split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ValueError(f"shard_worker must be 'j/n' with 0 <= j < n (process j of n); got {worker!r}")
    return index, count


# the plans' column for the peak memory of one descriptor call of a pretrained model, measured on the CPU
# with its published configuration (the process's peak resident memory: the tensors a GPU would hold plus
# the interpreter, less the GPU's context and kernel workspaces); empty where nothing was measured
PEAK_MEMORY_COLUMN = "peak GiB per call (measured on CPU)"


def check_first_index(first_index) -> int:
    """``sample``'s ``first_index`` (the noise stream of the first sample), or one sentence naming it."""
    if isinstance(first_index, bool) or not isinstance(first_index, int) or first_index < 0:
        raise ValueError(f"first_index must be a non-negative integer; got {first_index!r}")
    return first_index


def shard_count(count: int, shard_size: int | None) -> int:
    """How many calls ``geometry_in_shards`` makes for ``count`` inputs (one without shards): what a
    plan prints as the cached calls of a section."""
    return 1 if shard_size is None or shard_size >= count else -(-count // shard_size)


def in_shards(
    compute: Callable[[slice], T], count: int, shard_size: int | None, worker: str = "0/1"
) -> list[T]:
    """``compute(rows)`` for the consecutive slices of ``shard_size`` of ``count`` rows, in row order.

    Made for a ``compute`` that keeps each call on disk (a cached descriptor call, a cached sampler
    part): a rerun after an interruption loads the finished shards and computes the rest. Processes
    that share the cache folder share the work: process ``j`` of ``n`` (``worker="j/n"``) computes its
    own shards (j, j + n, ...) first, then goes through the others in order, loading those already
    written and computing those still missing (at the end, a shard another process is still computing
    may be computed twice; the result is the same). Every process returns all of them.
    ``shard_size=None`` (or at least ``count``): one call for all rows.
    """
    if shard_size is not None and (
        isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1
    ):
        raise ValueError(f"shard_size must be None or a positive integer; got {shard_size!r}")
    index, workers = parse_worker(worker)
    if shard_size is None or shard_size >= count:
        return [compute(slice(0, count))]
    starts = list(range(0, count, shard_size))
    parts = {start: compute(slice(start, min(start + shard_size, count))) for start in starts[index::workers]}
    for start in starts:
        if start not in parts:
            parts[start] = compute(slice(start, min(start + shard_size, count)))
    return [parts[start] for start in starts]


def geometry_in_shards(
    geometry: Callable[[slice], LocalGeometry],
    count: int,
    shard_size: int | None,
    worker: str = "0/1",
) -> LocalGeometry:
    """The descriptors of ``count`` inputs, ``shard_size`` inputs per call: resumable and shareable.

    ``geometry(rows)`` returns the descriptors of the inputs ``rows`` (a
    slice) through a model's ``geometry``, which caches every call on disk
    (:func:`cached_geometry`); one call per shard (:func:`in_shards`)
    therefore makes a computation of many hours resumable, and processes
    that share the cache folder share it. ``shard_size=None``: one call for
    all inputs. A model without a cache key (weights built in code) caches
    nothing, so its shards are not resumable.
    """
    parts = in_shards(geometry, count, shard_size, worker)
    return parts[0] if len(parts) == 1 else concatenate_in_order(parts, np.arange(count))
