"""The editing study's measurements on a model whose answers are known: the exact Gaussian denoiser.

Its x0-predictor is affine in x_t, so DDIM from any timestep is affine too:
every edit is exactly linear and additive, and a data covariance of rank r
leaves an exact null space of dimension d - r.
"""

import numpy as np
import pytest

from geomlib import presets
from geomlib.methods.gaussian_structure import GaussianDenoiser
from geomlib.models.diffusion import DDPMSchedule
from geomlib.studies import subspace_editing as se

SIDE, RANK = 4, 5


class AffineGenerator:
    """The exact Gaussian denoiser behind the generator interface the editing study reads.

    Its x0 map is affine, ``x -> W_t x + b_t``, with ``W_t`` and ``b_t`` read off the filter's action
    on the basis vectors (not from its formula), handed to JAX as the map of one input."""

    def __init__(self, denoiser: GaussianDenoiser, schedule: DDPMSchedule):
        self.denoiser, self.schedule = denoiser, schedule
        self.input_shape = (SIDE * SIDE,)

    def affine(self, t: int):
        d = SIDE * SIDE
        offset = self.denoiser(np.zeros((1, d)), self.schedule, t)
        return (self.denoiser(np.eye(d), self.schedule, t) - offset).T, offset[0]

    def posterior_mean(self, inputs, *, timestep, condition=None):
        return self.denoiser(np.asarray(inputs, np.float64), self.schedule, timestep)

    def analysed_map(self, kind="x0", *, condition=None, timestep=0):
        import jax.numpy as jnp

        matrix, offset = (jnp.asarray(a, jnp.float32) for a in self.affine(timestep))
        return lambda x: (matrix @ x + offset, {})

    def geometry(self, *args, **kwargs):
        raise AssertionError("the tests here do not read descriptors")


def gaussian_model(seed=0) -> se.PosteriorMean:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((SIDE * SIDE, RANK)))
    data = 0.3 * rng.standard_normal((4000, RANK)) @ basis.T
    model = AffineGenerator(GaussianDenoiser.fit(data), DDPMSchedule())
    return se.PosteriorMean(
        name="Gaussian",
        model=model,
        shape=(SIDE, SIDE),
        alpha_bars=model.schedule.alpha_bars,
        to_images=lambda x: np.asarray(x).reshape(-1, SIDE, SIDE),  # no clipping: stays affine
        from_images=lambda images: np.asarray(images, np.float64).reshape(len(images), -1),
        inputs=data[:6],
        labels=np.zeros(6, int),
        description="exact Gaussian denoiser",
    )


def test_edits_of_an_affine_flow_are_exactly_linear_and_additive():
    pm = gaussian_model()
    x_t = pm.invert(pm.inputs[:3], 600, 20)
    directions = [se.top_directions(pm.jacobian(x, 600), 3)[0] for x in x_t]
    linear = se.linearity_table(pm, x_t, 600, directions, (-2.0, -1.0, 1.0, 2.0), 20)
    np.testing.assert_allclose(linear["R2"], 1, atol=1e-9)
    np.testing.assert_allclose(linear["odd-symmetry error"], 0, atol=1e-6)
    compose = se.composability_table(pm, x_t, 600, directions, 2.0, 20)
    np.testing.assert_allclose(compose["relative error"], 0, atol=1e-6)


def test_directions_outside_the_data_subspace_do_nothing_and_top_ones_beat_random():
    pm = gaussian_model()
    x_t = pm.invert(pm.inputs[:3], 600, 20)
    directions = [se.top_directions(pm.jacobian(x, 600), 2)[0] for x in x_t]
    gain = se.transfer_table(pm, directions, x_t, 600, 2.0, 20, random_count=8, seed=0)["gain over random"]
    # a random unit direction keeps about RANK / d of its energy in the data subspace, the top ones all
    assert gain.min() > 1.3


def test_the_null_space_watermark_of_a_rank_deficient_denoiser_is_invisible_and_detected():
    pm = gaussian_model()
    # The unmarked states' component along the key is about N(0, 1), so the mark must stand well above
    # it: strength 12 puts the marked scores ~8 standard deviations up (DDIM inversion of an affine flow
    # brings a null-space mark back exactly).
    cfg = presets.resolve(
        "subspace_editing", "smoke", watermark_images=8, ddim_steps=40, watermark_strength=12.0
    )
    result = se.watermark_study(pm, cfg, seed=1)
    assert set(result.removed_ranks) == {RANK}  # the numerical rank of the filter is the data's rank
    assert result.visibility["|J d| null space"].max() < 1e-8
    assert result.visibility["|J d| plain"].min() > 1e-3
    assert result.table.loc[("null space", "clean"), "AUC"] == pytest.approx(1.0)


def test_region_masks_cover_the_chosen_half():
    pm = gaussian_model()
    inside, on_image = se.region_mask(pm, "top")
    assert inside.reshape(SIDE, SIDE)[: SIDE // 2].all() and not inside.reshape(SIDE, SIDE)[SIDE // 2 :].any()
    assert on_image((8, 8)).sum() == 32  # upsampled to the image
    with pytest.raises(ValueError, match="region must be"):
        se.region_mask(pm, "middle")
