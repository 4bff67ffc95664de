"""geomlib.methods.gaussian_structure: Wiener filter, MoLRG score, linearity, scores, distillation; DDIM."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from geomlib import presets
from geomlib.methods import gaussian_structure as gs
from geomlib.models.diffusion import DDPMSchedule, ddim_sample
from geomlib.models.sscd import Similarity
from geomlib.studies.hidden_gaussian import disjoint_sets

SCHEDULE = DDPMSchedule()


def correlated_gaussian(d: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    factor = rng.standard_normal((d, d)) * np.linspace(1.5, 0.05, d)
    mean = rng.standard_normal(d)
    return mean + rng.standard_normal((n, d)) @ factor.T, mean, factor @ factor.T


@pytest.mark.parametrize("t", [20, 300, 800])
def test_gaussian_denoiser_is_the_least_squares_denoiser_on_gaussian_data(t):
    """On Gaussian data the posterior mean is linear, so a least-squares fit of x0 on x_t converges to it."""
    d = 6
    data, _, _ = correlated_gaussian(d, 200_000, seed=0)
    denoiser = gs.GaussianDenoiser.fit(data)
    x_t = gs.noised(data, SCHEDULE, t, seed=1)
    design = np.concatenate([x_t, np.ones((len(x_t), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, data, rcond=None)  # E[x0 | x_t] fitted from samples alone
    fitted = solution[:-1].T
    np.testing.assert_allclose(fitted, denoiser.matrix(SCHEDULE, t), atol=0.01)
    probe = gs.noised(data[:50], SCHEDULE, t, seed=2)
    np.testing.assert_allclose(probe @ fitted.T + solution[-1], denoiser(probe, SCHEDULE, t), atol=0.08)


def test_gaussian_denoiser_matches_the_conditioning_formula():
    """mu + Cov(x0, x_t) Cov(x_t)^-1 (x_t - E x_t), written out with dense matrices."""
    _, mean, cov = correlated_gaussian(5, 10, seed=3)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    denoiser = gs.GaussianDenoiser(mean, eigenvalues, eigenvectors)
    t = 400
    s, sigma = np.sqrt(SCHEDULE.alpha_bars[t]), np.sqrt(1 - SCHEDULE.alpha_bars[t])
    x = np.random.default_rng(4).standard_normal((3, 5))
    expected = mean + (x - s * mean) @ np.linalg.solve(s**2 * cov + sigma**2 * np.eye(5), s * cov).T
    np.testing.assert_allclose(denoiser(x, SCHEDULE, t), expected, rtol=1e-10)


def test_molrg_score_matches_finite_differences_of_an_independent_log_density():
    mixture = gs.MoLRG.random(d=8, components=2, rank=3, seed=0)
    s, sigma = 0.8, 0.6
    x = np.random.default_rng(1).standard_normal((4, 8))

    def log_density(points):  # scipy's Gaussian densities, mixed with equal weights
        parts = [
            stats.multivariate_normal(np.zeros(8), s**2 * u @ u.T + sigma**2 * np.eye(8)).logpdf(points)
            for u in mixture.bases
        ]
        return logsumexp(np.stack(parts, axis=-1), axis=-1) - np.log(2)

    np.testing.assert_allclose(mixture.log_density(x, s, sigma), log_density(x), rtol=1e-10)
    h = 1e-5
    numeric = np.stack(
        [(log_density(x + h * e) - log_density(x - h * e)) / (2 * h) for e in np.eye(8)], axis=-1
    )
    np.testing.assert_allclose(mixture.score(x, s, sigma), numeric, rtol=1e-5, atol=1e-7)


def test_molrg_subspaces_are_orthonormal_and_samples_lie_on_them():
    mixture = gs.MoLRG.random(d=10, components=3, rank=2, seed=2)
    stacked = mixture.bases.transpose(1, 0, 2).reshape(10, 6)
    np.testing.assert_allclose(stacked.T @ stacked, np.eye(6), atol=1e-12)
    points, components = mixture.sample(20, seed=3)
    for point, k in zip(points, components, strict=True):
        u = mixture.bases[k]
        np.testing.assert_allclose(u @ (u.T @ point), point, atol=1e-12)
    with pytest.raises(ValueError, match="components \\* rank must be <= d"):
        gs.MoLRG.random(d=5, components=3, rank=2, seed=0)


def test_linearity_score_is_one_for_affine_maps_and_below_one_otherwise():
    rng = np.random.default_rng(5)
    a, c = rng.standard_normal((7, 7)), rng.standard_normal(7)
    x1, x2, center = rng.standard_normal((20, 7)), rng.standard_normal((20, 7)), rng.standard_normal(7)
    np.testing.assert_allclose(gs.linearity_score(lambda x: x @ a.T + c, x1, x2, center), 1, atol=1e-12)
    assert np.mean(gs.linearity_score(lambda x: np.tanh(3 * x), x1, x2, center)) < 0.95


def test_distill_linear_recovers_an_affine_map():
    rng = np.random.default_rng(6)
    a, c = rng.standard_normal((5, 5)), rng.standard_normal(5)
    weights, offset = gs.distill_linear(lambda x: x @ a.T + c, rng.standard_normal((40, 5)))
    np.testing.assert_allclose(weights, a, atol=1e-10)
    np.testing.assert_allclose(offset, c, atol=1e-10)


def test_scores_count_pairs_above_the_threshold():
    training = np.eye(4)
    samples = np.array([[1, 0, 0, 0], [0, 1, 0.1, 0], [1, 1, 1, 1]], float)
    # cosines to the nearest training image: 1, 0.995, 0.5
    assert gs.generalization_score(samples, training, 0.99) == pytest.approx(1 / 3)
    assert gs.generalization_score(samples, training, 0.999) == pytest.approx(2 / 3)
    assert gs.reproducibility_score(samples, samples[[0, 2, 1]], 0.9) == pytest.approx(1 / 3)
    ratio = gs.copy_ratio(np.array([[0.99, 0, 0, 0], [0.5, 0.5, 0, 0]]), training)
    assert ratio[0] < 1 / 3 and ratio[1] == pytest.approx(1.0)


def test_ddim_with_the_exact_gaussian_denoiser_samples_the_gaussian():
    """Deterministic DDIM with the true posterior mean maps N(0, I) noise to (nearly) the data law."""
    data, mean, cov = correlated_gaussian(3, 50_000, seed=7)
    denoiser = gs.GaussianDenoiser.fit(data)
    noise = np.random.default_rng(8).standard_normal((4_000, 3))
    samples = ddim_sample(lambda x, t: denoiser(x, SCHEDULE, t), SCHEDULE, noise, steps=100)
    np.testing.assert_allclose(samples.mean(0), mean, atol=0.08)
    np.testing.assert_allclose(np.cov(samples.T), cov, atol=0.1 * np.abs(cov).max())
    again = ddim_sample(lambda x, t: denoiser(x, SCHEDULE, t), SCHEDULE, noise, steps=100)
    np.testing.assert_array_equal(samples, again)


def test_disjoint_sets_are_disjoint_and_nested():
    train = np.arange(40, dtype=float)[:, None]
    a8, b8 = disjoint_sets(train, 8, seed=0)
    a16, b16 = disjoint_sets(train, 16, seed=0)
    assert not set(a16.ravel()) & set(b16.ravel())
    assert set(a8.ravel()) <= set(a16.ravel()) and set(b8.ravel()) <= set(b16.ravel())
    with pytest.raises(ValueError, match="needs 42 training images"):
        disjoint_sets(train, 21, seed=0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (dict(image_size=10), "image_size must be one of 7, 14, 28"),
        (dict(checkpoints=(100, 50)), "checkpoints must be a strictly increasing list"),
        (dict(distill_inputs=100), "distill_inputs must be more than the image dimension 196"),
        (dict(molrg_ranks=(30,)), "molrg_ranks must be ranks with molrg_components"),
        (dict(similarity_threshold=1.5), r"similarity_threshold must be in \(0, 1\)"),
    ],
)
def test_bad_settings_are_named(override, message):
    with pytest.raises(ValueError, match=message):
        presets.resolve("hidden_gaussian", "default", **override)


def test_missing_sscd_model_names_the_parameter_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="sscd_model .* does not exist: download sscd_disc_mixup"):
        Similarity(str(tmp_path / "none.pt"), side=14)
    pixels = Similarity(None, side=2)(np.array([[-1.0, 1.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(pixels, [[0.0, 1.0, 0.5, 1.0]])
