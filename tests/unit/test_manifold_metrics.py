"""On/off-manifold sampling, region means, energy distance and the summary rounding."""

import numpy as np
import pytest
from scipy.stats import energy_distance as scipy_energy_distance

from geomlib.methods.manifold import contrast, grid_points, on_manifold, region_mean, sample_on_off
from geomlib.methods.metrics import energy_distance
from geomlib.tools.report import rounded


def test_on_and_off_points_lie_where_they_should():
    centers = np.array([[0.0, 0.0], [1.0, 1.0]])
    on, off = sample_on_off(centers, 0.3, 2.0, 2000, seed=0)
    assert on.shape == off.shape == (2000, 2)
    assert on_manifold(on, centers, 0.3).all() and not on_manifold(off, centers, 0.3).any()
    assert np.abs(off).max() <= 2.0


def test_points_on_overlapping_discs_are_uniform_on_their_union():
    """Two discs of radius 1 at distance 1: the lens holds a known share of the union's area."""
    r, dist = 1.0, 1.0
    lens = 2 * r**2 * np.arccos(dist / (2 * r)) - dist / 2 * np.sqrt(4 * r**2 - dist**2)
    union = 2 * np.pi * r**2 - lens
    on, _ = sample_on_off(np.array([[0.0, 0.0], [dist, 0.0]]), r, 3.0, 40000, seed=1)
    in_lens = (np.hypot(*on.T) <= r) & (np.hypot(on[:, 0] - dist, on[:, 1]) <= r)
    assert in_lens.mean() == pytest.approx(lens / union, abs=0.01)


def test_contrast_and_region_mean():
    result = contrast(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, np.inf, 1.0]))
    assert result.difference == pytest.approx(2.0 - 1 / 3)
    assert result.num_off == 3  # the infinite value is dropped
    grid = grid_points(5, 2.0)
    values = grid[:, 0] + 10 * grid[:, 1]
    assert region_mean(grid, values, np.array([[1.0, 1.0]]), 0.1) == pytest.approx(11.0)
    with pytest.raises(ValueError, match="no grid point"):
        region_mean(grid, values, np.array([[0.5, 0.5]]), 0.1)
    with pytest.raises(ValueError, match="grid_size"):
        grid_points(1, 2.0)


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 300), rng.normal(0.5, 2, 200)
    assert energy_distance(x[:, None], y[:, None]) == pytest.approx(scipy_energy_distance(x, y), rel=1e-10)
    assert energy_distance(x[:, None], x[:, None]) == 0.0
    with pytest.raises(ValueError, match="same D"):
        energy_distance(np.ones((3, 2)), np.ones((3, 1)))


def test_rounding_to_significant_digits():
    assert rounded({"a": 0.0012345, "b": [123456.7, 2], "c": "text", "d": float("-inf")}) == {
        "a": 0.00123,
        "b": [123000.0, 2],
        "c": "text",
        "d": float("-inf"),
    }
