"""The sketch W A against exact values: equality at k = n, the predicted shift, and order kept as k grows."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import digamma
from scipy.stats import spearmanr

from geomlib import Sketch, expected_psi_shift, local_geometry


def test_sketch_matrix_has_orthonormal_rows_and_is_seeded():
    W = Sketch(k=6, seed=3).matrix(20, np.float64)
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(W, Sketch(k=6, seed=3).matrix(20, np.float64))
    assert not np.allclose(W, Sketch(k=6, seed=4).matrix(20, np.float64))
    with pytest.raises(ValueError, match="Sketch.k=21"):
        Sketch(k=21).matrix(20)
    with pytest.raises(ValueError, match="Sketch.k"):
        Sketch(k=0)


def random_mlp(d, n, seed, width=32):
    rng = np.random.default_rng(seed)
    W1 = jnp.asarray(rng.standard_normal((width, d)), jnp.float32)
    b1 = jnp.asarray(rng.standard_normal(width), jnp.float32)
    W2 = jnp.asarray(rng.standard_normal((n, width)) / np.sqrt(width), jnp.float32)
    return lambda z: W2 @ jnp.tanh(W1 @ z + b1)


def test_sketch_with_k_equal_n_is_exact():
    fn = random_mlp(d=4, n=12, seed=0)
    zs = np.random.default_rng(1).standard_normal((30, 4)).astype(np.float32)
    exact = local_geometry(fn, zs, progress=False)
    sketched = local_geometry(fn, zs, sketch=Sketch(k=12, seed=5), progress=False)
    np.testing.assert_allclose(sketched.psi, exact.psi, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sketched.nu, exact.nu, rtol=1e-4)
    assert sketched.settings["sketch"] == {"k": 12, "seed": 5}


@pytest.mark.parametrize("k", [3, 8])  # fewer rows than inputs (VJPs), more (W times the JVP Jacobian)
def test_sketched_psi_is_that_of_w_times_the_analytic_jacobian(k):
    d, n, width = 4, 12, 32
    rng = np.random.default_rng(0)
    W1, b1 = rng.standard_normal((width, d)), rng.standard_normal(width)
    W2 = rng.standard_normal((n, width)) / np.sqrt(width)
    fn = lambda z: jnp.asarray(W2, jnp.float32) @ jnp.tanh(jnp.asarray(W1, jnp.float32) @ z + b1)  # noqa: E731
    zs = rng.standard_normal((10, d)).astype(np.float32)
    W = Sketch(k=k, seed=2).matrix(n, np.float64)
    expected = []
    for z in zs.astype(np.float64):  # d tanh(u)/du = 1 - tanh(u)^2, in float64
        jacobian = W2 @ np.diag(1 - np.tanh(W1 @ z + b1) ** 2) @ W1
        expected.append(np.log(np.linalg.svd(W @ jacobian, compute_uv=False)).sum())
    sketched = local_geometry(fn, zs, sketch=Sketch(k=k, seed=2), progress=False)
    np.testing.assert_allclose(sketched.psi, expected, rtol=1e-4, atol=1e-4)


def test_expected_shift_closed_form():
    """The digamma formula, by hand for a small case, and its large-k limit (r/2) log(k/n)."""
    i = np.arange(1, 4)
    by_hand = 0.5 * np.sum(digamma((10 - i + 1) / 2) - digamma((30 - i + 1) / 2))
    assert expected_psi_shift(30, 10, 3) == pytest.approx(by_hand)
    assert expected_psi_shift(30, 30, 3) == 0.0
    assert expected_psi_shift(100_000, 20_000, 2) == pytest.approx(np.log(0.2), rel=1e-3)


@pytest.mark.parametrize("k", [5, 10, 20])
def test_mean_sketch_shift_matches_random_matrix_theory(k):
    """For a rank-r map psi(W A) - psi(A) = 0.5 log det((WU)^T WU); its mean over W is the digamma formula."""
    n, d, r = 40, 6, 3
    rng = np.random.default_rng(7)
    u = np.linalg.qr(rng.standard_normal((n, r)))[0]
    v = np.linalg.qr(rng.standard_normal((d, r)))[0]
    A = jnp.asarray((u * np.array([2.0, 1.0, 0.5])) @ v.T, jnp.float32)
    exact_psi = np.log([2.0, 1.0, 0.5]).sum()
    z = np.zeros((1, d), np.float32)

    def linear(x):  # one function object, so every seed reuses one compilation
        return A @ x

    shifts = np.array(
        [
            local_geometry(linear, z, sketch=Sketch(k, seed), progress=False).psi[0] - exact_psi
            for seed in range(300)
        ]
    )
    predicted = expected_psi_shift(n, k, r)
    assert abs(shifts.mean() - predicted) < 4 * shifts.std(ddof=1) / np.sqrt(len(shifts))


def test_sketch_keeps_the_order_of_inputs_better_as_k_grows():
    """Across inputs, the rank correlation with exact psi rises with k, and the spread of the shift falls."""
    n = 64
    fn = random_mlp(d=4, n=n, seed=2)
    zs = np.random.default_rng(3).standard_normal((300, 4)).astype(np.float32) * 1.5
    exact = local_geometry(fn, zs, progress=False).psi
    correlation, spread, mean_shift = {}, {}, {}
    for k in (4, 16, 64):
        sketched = local_geometry(fn, zs, sketch=Sketch(k, seed=0), progress=False).psi
        correlation[k] = spearmanr(sketched, exact).statistic
        spread[k] = np.std(sketched - exact)
        mean_shift[k] = np.mean(sketched - exact)
    assert correlation[4] < correlation[16] < correlation[64]
    assert correlation[64] == pytest.approx(1.0)
    assert spread[4] > spread[16] > spread[64]
    # The Jacobian has rank 4 (d = 4): the mean shift follows the random-matrix prediction.
    assert mean_shift[16] == pytest.approx(expected_psi_shift(n, 16, 4), abs=0.3)
