"""geometry_in_shards: the same descriptors as one call, resumable through the geometry cache, shared by
processes. Ground truth: exact descriptors of a linear map written here (psi of x -> A_i x is the sum of
log singular values of A_i), computed input by input with numpy."""

import jax.numpy as jnp
import numpy as np
import pytest

from geomlib import local_geometry
from geomlib.core.result import LocalGeometry, concatenate_in_order
from geomlib.models.base import cached_geometry, geometry_in_shards, parse_worker

SCALES = np.linspace(0.5, 2.0, 23)  # input i is mapped by diag(SCALES[i], 1, 1) @ x


def exact_psi(rows: slice) -> np.ndarray:
    return np.log(SCALES[rows])  # the other two singular values are 1


def geometry_of(rows: slice, calls: list | None = None) -> LocalGeometry:
    """The descriptors of inputs ``rows``: psi and nu of each input's own linear map, via local_geometry."""
    if calls is not None:
        calls.append((rows.start, rows.stop))
    parts = [
        local_geometry(scaled, np.ones((1, 3), np.float32), fn_args=(np.float32(s),), progress=False)
        for s in SCALES[rows]
    ]
    return concatenate_in_order(parts, np.arange(len(parts)))


def scaled(x, s):
    return x * jnp.stack([s, jnp.ones_like(s), jnp.ones_like(s)])


def cached(rows: slice, calls: list) -> LocalGeometry:
    """Through the models' on-disk cache, keyed by the rows, as a model's ``geometry`` caches a call."""
    return cached_geometry(
        {"model": "linear"}, {"rows": [rows.start, rows.stop]}, lambda: geometry_of(rows, calls)
    )


@pytest.mark.parametrize("shard_size", [None, 1, 5, 23, 100])
def test_shards_give_the_exact_descriptors_in_input_order(shard_size):
    geom = geometry_in_shards(geometry_of, len(SCALES), shard_size)
    np.testing.assert_allclose(geom.psi, exact_psi(slice(0, len(SCALES))), rtol=1e-5, atol=1e-6)
    assert len(geom.nu) == len(SCALES)


def test_an_interrupted_run_resumes_from_its_finished_shards(scratch_folders):
    calls, fail_at = [], {15}

    def flaky(rows):
        if rows.start in fail_at:
            raise KeyboardInterrupt  # the run is stopped while computing the fourth shard
        return cached(rows, calls)

    with pytest.raises(KeyboardInterrupt):
        geometry_in_shards(flaky, len(SCALES), 5)
    assert calls == [(0, 5), (5, 10), (10, 15)]
    fail_at.clear()
    geom = geometry_in_shards(flaky, len(SCALES), 5)
    assert calls[3:] == [(15, 20), (20, 23)]  # only what was missing
    np.testing.assert_allclose(geom.psi, exact_psi(slice(0, len(SCALES))), rtol=1e-5, atol=1e-6)


def test_workers_take_their_own_shards_first_and_share_the_rest(scratch_folders):
    calls = []
    geometry_in_shards(lambda rows: cached(rows, calls), len(SCALES), 5, worker="1/3")
    assert calls == [(5, 10), (20, 23), (0, 5), (10, 15), (15, 20)]
    calls.clear()
    geom = geometry_in_shards(lambda rows: cached(rows, calls), len(SCALES), 5, worker="0/3")
    assert calls == []  # everything was written by the first process: loaded, not computed
    np.testing.assert_allclose(geom.psi, exact_psi(slice(0, len(SCALES))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("worker", ["1/1", "-1/2", "a/b", "3", "0/0"])
def test_a_bad_worker_is_named_in_one_sentence(worker):
    with pytest.raises(ValueError, match="shard_worker must be 'j/n'"):
        parse_worker(worker)


@pytest.mark.parametrize("shard_size", [0, 2.5, True])
def test_a_bad_shard_size_is_named_in_one_sentence(shard_size):
    with pytest.raises(ValueError, match="shard_size must be None or a positive integer"):
        geometry_in_shards(geometry_of, len(SCALES), shard_size)


def test_the_dit_plan_counts_the_calls_the_notebook_makes():
    """The DiT notebook computes its descriptors with geometry_in_shards over every image; the plan's
    cached calls are the calls that makes, at every preset's shard size."""
    from geomlib import presets
    from geomlib.studies import dit as dit_study

    for preset in ("smoke", "default", "paper"):
        cfg = presets.resolve("dit", preset)
        plan = dit_study.plan(cfg).iloc[0]
        calls = []

        def recorded(rows, calls=calls):
            calls.append(rows)
            return LocalGeometry(psi=np.zeros(rows.stop - rows.start))

        geometry_in_shards(recorded, int(plan["images"]), cfg.shard_size)
        assert plan["images"] == len(cfg.classes) * cfg.images_per_class
        assert plan["cached calls"] == len(calls)


def test_the_dit_plan_gives_the_measured_peak_memory_between_the_measured_sketch_sizes():
    """A pretrained DiT's plan gives the peak memory of one call measured on the CPU at the measured sketch
    sizes, interpolated between them, and none outside them or for the small DiT (never measured)."""
    from dataclasses import replace

    from geomlib import presets
    from geomlib.models.base import PEAK_MEMORY_COLUMN
    from geomlib.studies import dit as dit_study

    paper = presets.resolve("dit", "paper")
    measured = dit_study.DIT_PEAK_GIB_PSI_NU
    delta = dit_study.DIT_PEAK_GIB_DELTA

    def peak(**changes):
        value = dit_study.plan(replace(paper, **changes)).iloc[0][PEAK_MEMORY_COLUMN]
        return None if value is None or np.isnan(value) else value

    assert peak() == round(max(measured[120], delta), 1)  # the paper's k = 120, measured as such
    assert peak(sketch_k=8) == round(max(measured[8], delta), 1)
    between = peak(sketch_k=64)
    assert min(measured[8], measured[120]) - 0.05 <= between <= max(measured[8], measured[120]) + 0.05
    assert peak(sketch_k=200) is None and peak(sketch_k=2) is None  # outside what was measured
    assert peak(sketch_k=None) is None  # exact Jacobians: not measured
    assert dit_study.plan(presets.resolve("dit", "default")).iloc[0][PEAK_MEMORY_COLUMN] is None
