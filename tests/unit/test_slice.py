"""The latent slice's readings (rebuttal, Fig. 4): inside the anchors' triangle, spatial roughness."""

import numpy as np
import pytest
from matplotlib.path import Path

from geomlib.studies.stable_diffusion import inside_anchor_hull, plane_through, spatial_roughness


def test_inside_anchor_hull_agrees_with_a_polygon_test():
    rng = np.random.default_rng(0)
    anchors = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    plane = plane_through(anchors, grid=40, margin=0.3)
    u = np.linspace(plane.extent[0], plane.extent[1], plane.grid)
    v = np.linspace(plane.extent[2], plane.extent[3], plane.grid)
    a, b = np.meshgrid(u, v)
    points = np.stack([a.ravel(), b.ravel()], axis=1)
    # matplotlib's ray-casting point-in-polygon test (no grid point of random anchors lies on an edge)
    inside = inside_anchor_hull(plane)
    np.testing.assert_array_equal(inside, Path(plane.anchor_coords).contains_points(points))
    assert 0 < inside.sum() < len(points)


def test_spatial_roughness_of_a_ramp():
    grid = 12
    ramp = np.tile(np.arange(grid, dtype=float), grid)  # value = column index, row-major
    # z-scored neighbours differ by 1 / std across columns and 0 down rows; half the pairs each
    std = np.sqrt((grid**2 - 1) / 12)
    assert spatial_roughness(ramp, grid) == pytest.approx(0.5 / std)
    assert spatial_roughness(3 * ramp + 7, grid) == pytest.approx(0.5 / std)  # scale-free
    assert spatial_roughness(np.ones(grid * grid), grid) == 0
    noise = np.random.default_rng(1).standard_normal(grid * grid)
    assert spatial_roughness(noise, grid) > 5 * spatial_roughness(ramp, grid)


def test_plane_points_computed_in_blocks_equal_the_whole_product():
    """More points than one block (70 x 70 > PLANE_ROWS): the same float32 values as the float64 product
    origin + a u + b v computed at once, with u, v the Gram-Schmidt basis written out here."""

    from geomlib.studies import stable_diffusion as sd_study

    anchors = np.random.default_rng(3).standard_normal((3, 2, 3, 3)).astype(np.float32)
    grid = 70
    assert grid * grid > sd_study.PLANE_ROWS
    plane = sd_study.plane_through(anchors, grid, 0.1)
    flat = anchors.reshape(3, -1).astype(np.float64)
    u = (flat[1] - flat[0]) / np.linalg.norm(flat[1] - flat[0])
    v = flat[2] - flat[0] - ((flat[2] - flat[0]) @ u) * u
    v /= np.linalg.norm(v)
    a, b = np.meshgrid(np.linspace(*plane.extent[:2], grid), np.linspace(*plane.extent[2:], grid))
    expected = (flat[0] + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v).astype(np.float32)
    assert plane.points.dtype == np.float32 and np.asarray(plane.points).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(plane.points).reshape(grid * grid, -1), expected)
    # any rows asked for are those rows of the whole: a slice, an index array, one point
    rows = np.array([4899, 0, 4096, 17])
    np.testing.assert_array_equal(plane.points[rows].reshape(4, -1), expected[rows])
    np.testing.assert_array_equal(plane.points[4090:4100].reshape(10, -1), expected[4090:4100])
    np.testing.assert_array_equal(plane.points[17], expected[17].reshape(anchors.shape[1:]))
    assert plane.points.shape == (grid * grid, *anchors.shape[1:]) and len(plane.points) == grid * grid


def test_a_shard_of_a_large_slice_is_computed_without_the_whole():
    """The paper's 512 x 512 slice of 16,384-dim latents is 16 GiB in float32: a shard of it is computed
    alone (here a 128 x 128 grid of 4 x 64 x 64 latents, 1 GiB whole; 64 points held at most)."""
    import tracemalloc

    anchors = np.random.default_rng(0).standard_normal((3, 4, 64, 64)).astype(np.float32)
    tracemalloc.start()
    try:
        plane = plane_through(anchors, 128, 0.1)
        shard = plane.points[8192 : 8192 + 64]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shard.shape == (64, 4, 64, 64)
    assert peak < 64 * 16384 * 8 * 4  # a few float64 copies of the shard, not 1 GiB
