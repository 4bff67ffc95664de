"""Editing and watermarking in the Jacobian's subspaces: the linear algebra against independent references."""

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from geomlib.methods.editing import (
    auc,
    detection_score,
    mark_direction,
    masked_direction,
    masked_direction_from_products,
    null_space,
    subspace_iteration,
    top_directions,
    watermark,
)
from geomlib.methods.gaussian_structure import GaussianDenoiser
from geomlib.models.diffusion import DDPMSchedule, ddim_path, ddim_stops


def low_rank_map(rows=30, cols=20, rank=5, seed=0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, rank)))
    return u @ np.diag(np.linspace(5, 1, rank)) @ v.T


def test_subspace_iteration_finds_the_exact_top_singular_subspace():
    jacobian = low_rank_map()
    found, sigma = subspace_iteration(lambda v: jacobian @ v, lambda y: jacobian.T @ y, 20, 3, 6, seed=0)
    exact, exact_sigma = top_directions(jacobian, 3)
    assert np.max(subspace_angles(found, exact)) < 1e-6
    np.testing.assert_allclose(sigma, exact_sigma[:3], rtol=1e-8)


def test_masked_direction_is_the_projected_masked_singular_vector():
    """Against the definition, computed another way: eigenvectors of the Gram matrices of the two row sets."""
    jacobian = low_rank_map(rows=16, cols=10, rank=6, seed=1)
    inside = np.zeros(16, bool)
    inside[:6] = True
    direction = masked_direction(jacobian, inside, outside_rank=2)
    _, vectors_in = np.linalg.eigh(jacobian[inside].T @ jacobian[inside])
    _, vectors_out = np.linalg.eigh(jacobian[~inside].T @ jacobian[~inside])
    v, outside = vectors_in[:, -1], vectors_out[:, -2:]  # eigh sorts ascending
    expected = v - outside @ (outside.T @ v)
    expected /= np.linalg.norm(expected)
    assert abs(abs(direction @ expected) - 1) < 1e-8  # the same line (an eigenvector's sign is arbitrary)
    np.testing.assert_allclose(outside.T @ direction, 0, atol=1e-10)
    with pytest.raises(ValueError, match="inside must mark some"):
        masked_direction(jacobian, np.ones(16, bool), 1)


def test_masked_direction_from_products_matches_the_matrix_version():
    jacobian = low_rank_map(rows=16, cols=10, rank=6, seed=1)
    inside = np.zeros(16, bool)
    inside[:6] = True
    expected = masked_direction(jacobian, inside, outside_rank=2)
    found = masked_direction_from_products(
        lambda v: jacobian @ v, lambda y: jacobian.T @ y, inside, 10, 2, iterations=30, seed=0
    )
    assert abs(abs(found @ expected) - 1) < 1e-6


def test_a_pattern_in_the_null_space_is_invisible_to_the_map():
    jacobian = low_rank_map(rows=12, cols=12, rank=4, seed=2)
    basis = null_space(jacobian, tol=1e-8)
    assert basis.shape == (12, 8)
    x = np.random.default_rng(3).standard_normal(12)
    pattern = np.random.default_rng(4).standard_normal(12)
    hidden = mark_direction(pattern, keep=basis)
    marked = watermark(x, hidden, 3.0)
    np.testing.assert_allclose(jacobian @ marked, jacobian @ x, atol=1e-10)
    assert np.linalg.norm(marked - x) == pytest.approx(3.0)
    plain = watermark(x, mark_direction(pattern), 3.0)
    assert np.linalg.norm(jacobian @ plain - jacobian @ x) > 0.1  # without the projection the map sees it
    assert detection_score(marked, hidden) - detection_score(x, hidden) == pytest.approx(3.0)
    # Removing the top right singular vectors (the large-model form) gives the same direction.
    top, _ = top_directions(jacobian, 4)
    np.testing.assert_allclose(mark_direction(pattern, remove=top), hidden, atol=1e-10)


def test_auc_counts_pairs_and_half_ties_by_hand():
    # pairs (positive, negative): 3>2, 3>0, 1<2, 1>0, 2=2 (half), 2>0: 4.5 of 6
    assert auc([3, 1, 2], [2, 0]) == pytest.approx(0.75)
    assert auc([5, 6], [1, 2]) == 1.0 and auc([1, 2], [5, 6]) == 0.0


def test_ddim_inversion_then_denoising_returns_the_image():
    """The exact Gaussian denoiser gives a smooth flow: a fine DDIM round trip is close."""
    schedule = DDPMSchedule()
    rng = np.random.default_rng(6)
    data = rng.standard_normal((5000, 3)) @ np.diag([1.0, 0.5, 0.2])
    denoiser = GaussianDenoiser.fit(data)

    def x0(x, t):
        return denoiser(x, schedule, t)

    image = data[:4]
    noisy = ddim_path(x0, schedule.alpha_bars, image, ddim_stops(0, 600, 300))
    back = ddim_path(x0, schedule.alpha_bars, noisy, ddim_stops(600, 0, 300))
    np.testing.assert_allclose(back, image, atol=0.02)
    assert np.abs(noisy - image).max() > 0.3  # it did go somewhere


def test_a_mark_with_nothing_left_outside_the_removed_directions_is_refused():
    basis, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    pattern = np.arange(6.0)
    with pytest.raises(ValueError, match="pattern has no component outside the removed directions"):
        mark_direction(pattern, remove=basis)  # the whole space removed: only rounding error is left
    last = mark_direction(pattern, remove=basis[:, :5])  # the weakest direction kept
    np.testing.assert_allclose(abs(last @ basis[:, 5]), 1.0, atol=1e-12)
