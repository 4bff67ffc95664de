"""psi, nu and rank against closed forms and independent linear algebra (NumPy float64)."""

import jax.numpy as jnp
import numpy as np
import pytest

from geomlib import local_geometry
from geomlib.core import descriptors


def map_with_singular_values(n, d, sigma, rng):
    """A (n x d) matrix whose non-zero singular values are exactly ``sigma``."""
    r = len(sigma)
    u = np.linalg.qr(rng.standard_normal((n, r)))[0]
    v = np.linalg.qr(rng.standard_normal((d, r)))[0]
    return (u * sigma) @ v.T


def closed_form_nu(sigma):
    p = np.asarray(sigma, np.float64) / np.sum(sigma)
    return float(np.exp(-np.sum(p * np.log(p))))


@pytest.mark.parametrize("n, d", [(7, 3), (3, 7), (5, 5)])
def test_linear_map_matches_chosen_singular_values(n, d):
    rng = np.random.default_rng(0)
    sigma = np.sort(rng.uniform(0.2, 3.0, min(n, d)))[::-1]
    A = map_with_singular_values(n, d, sigma, rng).astype(np.float32)
    zs = rng.standard_normal((4, d)).astype(np.float32)
    geom = local_geometry(lambda z: jnp.asarray(A) @ z, zs, return_sigma=True, progress=False)
    np.testing.assert_allclose(geom.sigma, np.tile(sigma, (4, 1)), rtol=1e-5)
    np.testing.assert_allclose(geom.psi, np.sum(np.log(sigma)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(geom.nu, closed_form_nu(sigma), rtol=1e-5)
    assert (geom.rank == min(n, d)).all()
    assert geom.settings["jacobian"] == ("exact-jacfwd" if d <= n else "exact-jacrev")


def test_random_linear_maps_match_numpy_svd():
    rng = np.random.default_rng(1)
    for n, d in [(10, 4), (4, 10), (6, 6)]:
        A = rng.standard_normal((n, d))
        sigma = np.linalg.svd(A, compute_uv=False)
        geom = local_geometry(
            lambda z, A=A: jnp.asarray(A, jnp.float32) @ z, np.zeros((1, d), np.float32), progress=False
        )
        np.testing.assert_allclose(geom.psi, np.log(sigma).sum(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(geom.nu, closed_form_nu(sigma), rtol=1e-5)


@pytest.mark.parametrize("r", [1, 2, 4])
def test_rank_deficient_map_counts_only_nonzero_singular_values(r):
    rng = np.random.default_rng(2)
    sigma = np.array([3.0, 1.5, 0.7, 0.4])[:r]
    A = map_with_singular_values(9, 6, sigma, rng).astype(np.float32)
    geom = local_geometry(
        lambda z: jnp.asarray(A) @ z, rng.standard_normal((3, 6)).astype(np.float32), progress=False
    )
    assert (geom.rank == r).all()
    np.testing.assert_allclose(geom.psi, np.log(sigma).sum(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(geom.nu, closed_form_nu(sigma), rtol=1e-4)


def test_zero_map_has_no_volume():
    geom = local_geometry(lambda z: 0.0 * z, np.ones((2, 3), np.float32), progress=False)
    assert np.all(np.isneginf(geom.psi)) and np.all(geom.nu == 0) and np.all(geom.rank == 0)


def test_rank_tol_is_relative_to_the_largest_singular_value():
    sigma = np.array([[2.0, 1e-3, 1e-9]])
    assert descriptors.numerical_rank(sigma, 1e-6)[0] == 2
    assert descriptors.numerical_rank(sigma, 1e-2)[0] == 1
    np.testing.assert_allclose(descriptors.local_scaling(sigma, 1e-6), np.log(2.0) + np.log(1e-3))
    np.testing.assert_allclose(descriptors.local_rank(sigma, 1e-2), 1.0)
    with pytest.raises(ValueError, match="rank_tol"):
        descriptors.local_scaling(sigma, 1.5)


def test_nonlinear_map_matches_an_analytic_jacobian():
    """tanh MLP: the chain-rule Jacobian in float64 NumPy is an independent path."""
    rng = np.random.default_rng(3)
    W1, b1 = rng.standard_normal((16, 5)), rng.standard_normal(16)
    W2 = rng.standard_normal((8, 16)) / 4
    zs = rng.standard_normal((20, 5))

    def fn(z):
        return jnp.asarray(W2, jnp.float32) @ jnp.tanh(jnp.asarray(W1, jnp.float32) @ z + b1)

    expected_psi, expected_nu = [], []
    for z in zs:
        J = W2 @ (np.diag(1 - np.tanh(W1 @ z + b1) ** 2) @ W1)
        s = np.linalg.svd(J, compute_uv=False)
        expected_psi.append(np.log(s).sum())
        expected_nu.append(closed_form_nu(s))
    geom = local_geometry(fn, zs.astype(np.float32), progress=False)
    np.testing.assert_allclose(geom.psi, expected_psi, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(geom.nu, expected_nu, rtol=1e-4)


def test_inputs_and_outputs_of_any_shape_are_flattened():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((10, 12)).astype(np.float32)

    def on_matrices(z):  # (3, 4) -> (2, 5)
        return (jnp.asarray(A) @ z.reshape(-1)).reshape(2, 5)

    zs = rng.standard_normal((3, 3, 4)).astype(np.float32)
    shaped = local_geometry(on_matrices, zs, progress=False)
    flat = local_geometry(lambda z: jnp.asarray(A) @ z, zs.reshape(3, 12), progress=False)
    np.testing.assert_allclose(shaped.psi, flat.psi, rtol=1e-6)
    assert shaped.settings["n_in"] == 12 and shaped.settings["n_out"] == 10


def test_bad_arguments_name_the_parameter():
    zs = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="zs"):
        local_geometry(lambda z: z, np.ones(3), progress=False)
    with pytest.raises(ValueError, match="descriptors"):
        local_geometry(lambda z: z, zs, descriptors=("psi", "volume"), progress=False)
    with pytest.raises(ValueError, match="has_aux"):
        local_geometry(lambda z: z, zs, descriptors=("delta",), progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        local_geometry(lambda z: z, zs, chunk_size=0, progress=False)
    with pytest.raises(ValueError, match="rank_tol"):
        local_geometry(lambda z: z, zs, rank_tol=-1.0, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        local_geometry(lambda z: z, np.full((2, 3), np.nan, np.float32), progress=False)


def test_fn_args_give_the_same_result_as_constants():
    rng = np.random.default_rng(5)
    A, B = (jnp.asarray(rng.standard_normal((6, 3)), jnp.float32) for _ in range(2))
    zs = rng.standard_normal((4, 3)).astype(np.float32)

    def with_args(z, M, scale):
        return scale * jnp.tanh(M @ z)

    for M, scale in ((A, 1.0), (B, 2.5)):
        as_args = local_geometry(with_args, zs, fn_args=(M, jnp.asarray(scale)), progress=False)
        as_constants = local_geometry(lambda z, M=M, scale=scale: with_args(z, M, scale), zs, progress=False)
        np.testing.assert_allclose(as_args.psi, as_constants.psi, rtol=1e-6)
