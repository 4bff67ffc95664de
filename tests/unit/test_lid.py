"""Local intrinsic dimension: the data of known dimension and the model-based estimators on exact scores."""

import jax
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from geomlib import local_geometry
from geomlib.methods.lid import (
    LowRankGaussianMixture,
    flipd,
    normal_bundle,
    residual_diffeomorphism,
    sphere,
    torus,
)
from geomlib.models.diffusion import DDPMSchedule

SCHEDULE = DDPMSchedule()


def test_mixture_score_matches_finite_differences_of_an_independent_log_density():
    """-eps / sigma (the closed form) against central differences of scipy's mixture density."""
    mixture = LowRankGaussianMixture.random(ambient=6, dims=(1, 3), seed=0)
    t = 200
    s, sigma = np.sqrt(SCHEDULE.alpha_bars[t]), np.sqrt(1 - SCHEDULE.alpha_bars[t])
    x = np.random.default_rng(1).standard_normal((3, 6))

    def log_density(points):  # scipy's Gaussians, mixed with the weights
        parts = [
            np.log(w) + stats.multivariate_normal(s * m, s**2 * u @ u.T + sigma**2 * np.eye(6)).logpdf(points)
            for w, m, u in zip(mixture.weights, mixture.means, mixture.bases, strict=True)
        ]
        return logsumexp(np.stack(parts, axis=-1), axis=-1)

    np.testing.assert_allclose(mixture.log_density(x, s, sigma), log_density(x), rtol=1e-10)
    h = 1e-5
    numeric = np.stack(
        [(log_density(x + h * e) - log_density(x - h * e)) / (2 * h) for e in np.eye(6)], axis=-1
    )
    with jax.enable_x64(True):
        eps = np.stack([np.asarray(mixture.eps_fn(SCHEDULE)(np.asarray(p), t)) for p in x])
    np.testing.assert_allclose(-eps / sigma, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_every_estimator_returns_the_dimension_of_a_gaussian_on_a_subspace(dim):
    """On N(0, U U^T) with U a D x d basis and its exact score, at small noise: nu, rank, FLIPD and
    NormalBundle all give d (FLIPD within 0.3, nu within 0.05: a projection has d equal singular values)."""
    mixture = LowRankGaussianMixture.random(ambient=12, dims=(dim,), seed=dim)
    points, truth = mixture.sample(40, seed=1)
    assert set(truth) == {dim}
    t = 5
    eps = mixture.eps_fn(SCHEDULE)
    estimate = flipd(eps, points, t, SCHEDULE)
    np.testing.assert_allclose(estimate, dim, atol=0.3)
    assert np.all(normal_bundle(eps, points, t, SCHEDULE, samples=48, seed=0) == dim)

    abars = SCHEDULE.alpha_bars
    s, sigma = np.sqrt(abars[t]), np.sqrt(1 - abars[t])
    geom = local_geometry(
        lambda x: mixture.posterior_mean(x, s, sigma),
        (points * s).astype(np.float32),
        rank_tol=1e-2,
        progress=False,
    )
    np.testing.assert_allclose(geom.nu, dim, atol=0.05)
    assert np.all(geom.rank == dim)


def test_a_mixture_gives_each_point_its_own_components_dimension():
    mixture = LowRankGaussianMixture.random(ambient=16, dims=(1, 4, 8), seed=3, spread=8.0)
    points, truth = mixture.sample(90, seed=2)
    estimate = flipd(mixture.eps_fn(SCHEDULE), points, 3, SCHEDULE)
    np.testing.assert_allclose(estimate, truth, atol=0.5)


def test_known_manifolds_have_their_dimension():
    points = sphere(200, dim=3, ambient=10, seed=0, radius=2.0)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 2.0, rtol=1e-5)
    ring = torus(200, ambient=10, seed=0)
    assert np.linalg.matrix_rank(ring - ring.mean(0), tol=1e-4) == 4  # two circles span four directions
    bend = residual_diffeomorphism(ambient=5, seed=0)
    x = np.random.default_rng(0).standard_normal(5)
    numeric = np.stack([(bend(x + 1e-4 * e) - bend(x - 1e-4 * e)) / 2e-4 for e in np.eye(5)], axis=1)
    assert np.all(np.abs(np.linalg.eigvals(numeric)) > 0.05)  # |I + residual'| >= 1 - 0.9
    with pytest.raises(ValueError, match="strength must be in"):
        residual_diffeomorphism(ambient=5, seed=0, strength=1.5)


@pytest.mark.parametrize("error", ["none", "constant bias", "smooth perturbation"])
def test_normal_bundle_reads_the_dimension_with_a_realistic_model_error_at_small_and_moderate_t(error):
    """2- and 6-dimensional Gaussians in R^20: the exact score plus the kind of error a trained model has.
    A constant bias in the noise prediction is one direction shared by all K scores; uncentred, it sets the
    largest singular-value drop (LID read near D - 1 or inside the tangent spectrum)."""
    import jax.numpy as jnp

    mixture = LowRankGaussianMixture.random(20, (2, 6), seed=0, spread=8.0)
    points, truth = mixture.sample(30, seed=1)
    schedule = DDPMSchedule()
    exact = mixture.eps_fn(schedule)
    bias = 0.3 * jnp.asarray(np.random.default_rng(5).standard_normal(20), jnp.float32)
    model = {
        "none": exact,
        "constant bias": lambda x, t: exact(x, t) + bias,
        "smooth perturbation": lambda x, t: exact(x, t) + 0.1 * jnp.tanh(x[::-1]),
    }[error]
    for t in (2, 10, 100):  # sigma_t from 0.02 to 0.32
        estimates = normal_bundle(model, points, t, schedule, samples=80, seed=0)
        np.testing.assert_array_equal(estimates, truth, err_msg=f"t = {t}")


def test_each_estimator_is_read_at_the_noise_level_where_it_is_most_accurate_on_the_calibration_set():
    """The LID notebook's rule for t: per estimator, the smallest mean absolute error averaged over the
    true dimensions with equal weight (a dimension with more points does not count more); ties go to
    the smaller t; a fixed ``lid_timestep`` overrides it for every estimator."""
    import itertools
    from types import SimpleNamespace

    import pandas as pd

    from geomlib.studies import local_intrinsic_dimension as lid

    errors = {  # (estimator, t) -> errors at true dimensions 1 and 10
        ("nu", 10): (0.0, 9.0),  # mean 4.5
        ("nu", 100): (3.0, 3.0),  # mean 3.0: best
        ("rank", 10): (1.0, 1.0),  # tie with t = 100: the smaller t
        ("rank", 100): (2.0, 0.0),
        ("FLIPD", 10): (5.0, 5.0),
        ("FLIPD", 100): (0.5, 0.7),  # best
        ("NormalBundle", 10): (0.0, 0.0),  # best
        ("NormalBundle", 100): (0.0, 2.0),
    }
    rows = [
        {"estimator": name, "t": t, "true dimension": dim, "mean abs error": errors[name, t][i]}
        for (name, t), (i, dim) in itertools.product(errors, enumerate((1, 10)))
    ]
    sweep = pd.DataFrame(rows)
    assert lid.calibrated_timesteps(sweep) == {"nu": 100, "rank": 10, "FLIPD": 100, "NormalBundle": 10}
    assert lid.timesteps_for(SimpleNamespace(lid_timestep=None), sweep)["nu"] == 100
    assert set(lid.timesteps_for(SimpleNamespace(lid_timestep=30), sweep).values()) == {30}
