"""DDPM math against closed forms: Gaussian data, where the optimal noise predictor is known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomlib import local_geometry
from geomlib.models import MLPDenoiser, MLPDenoiserConfig
from geomlib.models.diffusion import DDPMSchedule, denoiser_map, q_sample, sample

SCHEDULE = DDPMSchedule(num_steps=1000)


def gaussian_eps(std):
    """Exact E[eps | x_t] for data ~ N(0, std^2 I): sqrt(1 - abar) x_t / (abar std^2 + 1 - abar)."""
    abar = jnp.asarray(SCHEDULE.alpha_bars, jnp.float32)

    def apply(params, x, t):
        a = abar[t][..., None]
        return jnp.sqrt(1 - a) * x / (a * std**2 + 1 - a)

    return apply


def test_schedule_matches_the_ddpm_paper():
    assert SCHEDULE.betas[0] == pytest.approx(1e-4) and SCHEDULE.betas[-1] == pytest.approx(0.02)
    assert SCHEDULE.alpha_bars[-1] == pytest.approx(np.prod(1 - np.linspace(1e-4, 0.02, 1000)))
    assert SCHEDULE.posterior_variance[0] == 0.0


def test_q_sample_has_the_forward_marginal():
    x0 = jnp.full((20000, 1), 2.0)
    eps = jax.random.normal(jax.random.PRNGKey(0), x0.shape)
    xt = np.asarray(q_sample(SCHEDULE, x0, jnp.full((20000,), 300), eps))
    abar = SCHEDULE.alpha_bars[300]
    assert xt.mean() == pytest.approx(2.0 * np.sqrt(abar), abs=0.02)
    assert xt.std() == pytest.approx(np.sqrt(1 - abar), abs=0.02)


def test_sampling_with_the_exact_gaussian_denoiser_recovers_the_data_distribution():
    samples = sample(gaussian_eps(0.5), None, SCHEDULE, 20000, 2, jax.random.PRNGKey(1))
    np.testing.assert_allclose(samples.std(0), [0.5, 0.5], rtol=0.03)
    np.testing.assert_allclose(samples.mean(0), [0.0, 0.0], atol=0.02)


@pytest.mark.parametrize("t", [0, 170, 900])
def test_map_kinds_have_the_analytic_jacobians_of_a_linear_denoiser(t):
    """With eps = c x (Gaussian data), the three maps are multiples of the identity: psi = 2 log|scale|."""
    std = 0.5
    abar, alpha, beta = SCHEDULE.alpha_bars[t], SCHEDULE.alphas[t], SCHEDULE.betas[t]
    c = np.sqrt(1 - abar) / (abar * std**2 + 1 - abar)
    scales = {
        "eps": c,
        "x0": (1 - np.sqrt(1 - abar) * c) / np.sqrt(abar),
        "reverse_mean": (1 - beta / np.sqrt(1 - abar) * c) / np.sqrt(alpha),
    }
    exact = gaussian_eps(std)

    def apply(params, x, t, mutable):  # the Flax apply signature denoiser_map expects
        return exact(params, x, t), {mutable[0]: {"identity": (x,)}}

    zs = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    for kind, scale in scales.items():
        geom = local_geometry(
            denoiser_map(apply, SCHEDULE, kind),
            zs,
            has_aux=True,
            descriptors=("psi", "nu"),
            progress=False,
            fn_args=({}, jnp.asarray(t)),
        )
        # x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) cancels digits at high noise in float32
        np.testing.assert_allclose(geom.psi, 2 * np.log(abs(scale)), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(geom.nu, 2.0, rtol=1e-5)


def test_denoiser_map_rejects_bad_kind_and_timestep():
    model = MLPDenoiser(MLPDenoiserConfig(hidden=8, time_features=4))
    with pytest.raises(ValueError, match="map kind must be one of"):
        denoiser_map(model.apply, SCHEDULE, "score")
    with pytest.raises(ValueError, match=r"t must be integer timesteps in \[0, 999\]"):
        SCHEDULE.check_timestep(1000)


def test_the_denoiser_exposes_one_preactivation_layer_per_gelu():
    model = MLPDenoiser(MLPDenoiserConfig(hidden=8, depth=3, time_features=4))
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)), jnp.zeros((1,), jnp.int32))
    _, preacts = denoiser_map(model.apply, SCHEDULE, "eps")(jnp.zeros(2), params, jnp.asarray(5))
    assert sorted(preacts) == ["gelu_0", "gelu_1", "gelu_2"]
    assert all(v.shape == (8,) for v in preacts.values())


def _edm_model(sigma_data):
    model = MLPDenoiser(
        MLPDenoiserConfig(data_dim=3, hidden=8, depth=2, time_features=4, sigma_data=sigma_data)
    )
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), jnp.zeros((1,), jnp.int32))
    return model, params


def test_an_edm_network_with_a_zero_output_is_the_exact_denoiser_of_gaussian_data():
    """With F = 0, EDM's D(y) = sigma_d^2 / (sigma^2 + sigma_d^2) y: the posterior mean E[x0 | x_t] of
    x0 ~ N(0, sigma_d^2 I) under the DDPM's q(x_t | x0), written here from the schedule in float64."""
    sigma_data = 0.7
    model, params = _edm_model(sigma_data)
    params = jax.tree_util.tree_map_with_path(
        lambda path, leaf: jnp.zeros_like(leaf) if "head" in jax.tree_util.keystr(path) else leaf, params
    )
    x = np.random.default_rng(0).standard_normal((4, 3))
    for t in (0, 150, 600, 999):
        abar = float(SCHEDULE.alpha_bars[t])
        # x_t = sqrt(abar) x0 + sqrt(1 - abar) n: Gaussian regression of x0 on x_t
        exact = np.sqrt(abar) * sigma_data**2 / (abar * sigma_data**2 + 1 - abar) * x
        eps = np.asarray(model.apply(params, jnp.asarray(x, jnp.float32), jnp.full((4,), t)), np.float64)
        x0 = (x - np.sqrt(1 - abar) * eps) / np.sqrt(abar)
        np.testing.assert_allclose(x0, exact, rtol=1e-3, atol=1e-4)  # float32 eps <-> x0 round trip


def test_the_edm_loss_is_the_unweighted_error_of_the_preconditioned_output():
    """EDM trains F against (x0 - c_skip y) / c_out with unit weight; the project's loss, written on the
    noise prediction, must equal that mean squared error (coefficients here in float64)."""
    from geomlib.models.diffusion import epsilon_loss, q_sample

    sigma_data = 0.6
    model, params = _edm_model(sigma_data)
    x0 = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (16, 3)), jnp.float32)
    key = jax.random.PRNGKey(3)
    loss = float(epsilon_loss(model.apply, params, x0, key, SCHEDULE, sigma_data=sigma_data))
    t_key, eps_key = jax.random.split(key)  # the draws the loss makes: EDM's log-normal noise levels
    sigma = np.exp(-1.2 + 1.2 * np.asarray(jax.random.normal(t_key, (16,)), np.float64))
    # each at the schedule's nearest timestep from above (the noise levels are written from the schedule)
    table = np.sqrt((1 - SCHEDULE.alpha_bars) / SCHEDULE.alpha_bars).astype(np.float32)
    t = np.clip(np.searchsorted(table, sigma.astype(np.float32)), 0, SCHEDULE.num_steps - 1)
    eps = jax.random.normal(eps_key, x0.shape)
    x_t = np.asarray(q_sample(SCHEDULE, x0, jnp.asarray(t), eps), np.float64)
    abar = SCHEDULE.alpha_bars[t][:, None]
    sigma = np.sqrt((1 - abar) / abar)
    y = x_t / np.sqrt(abar)
    c_skip = sigma_data**2 / (sigma**2 + sigma_data**2)
    c_out = sigma * sigma_data / np.sqrt(sigma**2 + sigma_data**2)
    eps_hat = np.asarray(model.apply(params, jnp.asarray(x_t, jnp.float32), jnp.asarray(t)), np.float64)
    d = (x_t - np.sqrt(1 - abar) * eps_hat) / np.sqrt(abar)
    f = (d - c_skip * y) / c_out  # the network's own output, recovered
    target = (np.asarray(x0, np.float64) - c_skip * y) / c_out
    np.testing.assert_allclose(loss, np.mean((f - target) ** 2), rtol=2e-3)
