"""Local complexity against brute-force counts, and invariance to chunking and batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from geomlib import Polytope, local_geometry


def relu_mlp(d, widths, seed):
    """A random ReLU MLP returning (output, pre-activations) and its weights (NumPy float64)."""
    rng = np.random.default_rng(seed)
    sizes = [d, *widths]
    weights = [
        (rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.5)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]

    def fn(z):
        preacts, h = {}, z
        for i, (W, b) in enumerate(weights):
            pre = jnp.asarray(W, jnp.float32) @ h + jnp.asarray(b, jnp.float32)
            preacts[f"layer{i}"] = pre
            h = jax.nn.relu(pre)
        return h[:2], preacts

    return fn, weights


def crossing_hyperplanes(W, b, center, directions, r):
    """Neurons whose hyperplane w.x + b = 0 meets the cross-polytope conv{center +/- r v_j}.

    A linear function's range over the polytope is value(center) +/- r max_j |w.v_j|
    (the support function of the cross-polytope), so the plane meets it iff
    |w.center + b| <= r max_j |w.v_j|.
    """
    value = W @ center + b
    reach = r * np.max(np.abs(W @ directions.T), axis=1)
    return int(np.sum(np.abs(value) <= reach))


@pytest.mark.parametrize("k, r", [(1, 0.3), (2, 0.1), (4, 0.5), (6, 1.0)])
def test_first_layer_count_equals_hyperplanes_crossing_the_polytope(k, r):
    d = 6
    fn, weights = relu_mlp(d, [200, 50], seed=k)
    zs = np.random.default_rng(10 + k).standard_normal((40, d)).astype(np.float32)
    polytope = Polytope(k=k, r=r, seed=3)
    geom = local_geometry(fn, zs, has_aux=True, polytope=polytope, layers=["layer0"], progress=False)
    directions = polytope.directions(d)
    W, b = weights[0]
    expected = [crossing_hyperplanes(W, b, z.astype(np.float64), directions, r) for z in zs]
    np.testing.assert_array_equal(geom.delta, expected)
    assert geom.delta.sum() > 0  # the radii are large enough for planes to cross


def test_every_layer_matches_a_numpy_forward_pass_at_the_vertices():
    d = 5
    fn, weights = relu_mlp(d, [30, 20, 10], seed=1)
    zs = np.random.default_rng(2).standard_normal((25, d))
    polytope = Polytope(k=3, r=0.4, seed=0)
    geom = local_geometry(fn, zs.astype(np.float32), has_aux=True, polytope=polytope, progress=False)
    offsets = polytope.offsets(d, np.float64)
    for i, z in enumerate(zs):
        h = z[None, :] + offsets  # (V, d), forward pass in float64
        for layer, (W, b) in enumerate(weights):
            pre = h @ W.T + b
            on = pre > 0
            assert geom.delta_by_layer[f"layer{layer}"][i] == np.sum(on.any(0) & ~on.all(0))
            h = np.maximum(pre, 0)
    total = sum(geom.delta_by_layer.values())
    np.testing.assert_array_equal(geom.delta, total)


def test_layer_choice_and_the_center_option():
    fn, _ = relu_mlp(4, [20, 20], seed=3)
    zs = np.random.default_rng(4).standard_normal((10, 4)).astype(np.float32)
    both = local_geometry(fn, zs, has_aux=True, polytope=Polytope(k=2, r=0.5), progress=False)
    second = local_geometry(
        fn, zs, has_aux=True, polytope=Polytope(k=2, r=0.5), layers=["layer1"], progress=False
    )
    np.testing.assert_array_equal(second.delta, both.delta_by_layer["layer1"])
    assert second.settings["layers"] == ["layer1"]
    with_center = local_geometry(
        fn,
        zs,
        has_aux=True,
        descriptors=["delta"],
        polytope=Polytope(k=2, r=0.5, include_center=True),
        progress=False,
    )
    assert np.all(with_center.delta >= both.delta)  # a 5th point can only add sign changes
    with pytest.raises(ValueError, match="layers must be a non-empty subset of"):
        local_geometry(fn, zs, has_aux=True, polytope=Polytope(k=2, r=0.5), layers=["layer9"], progress=False)
    with pytest.raises(ValueError, match="Polytope.k=5 exceeds the input dimension d=4"):
        local_geometry(fn, zs, has_aux=True, polytope=Polytope(k=5, r=0.5), progress=False)
    with pytest.raises(ValueError, match="Polytope.r"):
        Polytope(k=2, r=0.0)


def test_results_are_identical_in_chunks_one_by_one_and_without_jit():
    fn, _ = relu_mlp(3, [40, 40], seed=5)
    zs = np.random.default_rng(6).standard_normal((23, 3)).astype(np.float32)
    settings = dict(has_aux=True, polytope=Polytope(k=2, r=0.2), progress=False)
    whole = local_geometry(fn, zs, **settings)
    for chunk_size in (1, 7, 23, 64):
        chunked = local_geometry(fn, zs, chunk_size=chunk_size, **settings)
        np.testing.assert_allclose(chunked.psi, whole.psi, rtol=1e-6)
        np.testing.assert_allclose(chunked.nu, whole.nu, rtol=1e-6)
        np.testing.assert_array_equal(chunked.delta, whole.delta)
    one_by_one = [local_geometry(fn, z[None], **settings) for z in zs]
    np.testing.assert_allclose([g.psi[0] for g in one_by_one], whole.psi, rtol=1e-6)
    np.testing.assert_array_equal([g.delta[0] for g in one_by_one], whole.delta)
    with jax.disable_jit():
        eager = local_geometry(fn, zs[:5], **settings)
    np.testing.assert_allclose(eager.psi, whole.psi[:5], rtol=1e-5)
    np.testing.assert_array_equal(eager.delta, whole.delta[:5])


def test_result_round_trips_through_a_file(tmp_path):
    fn, _ = relu_mlp(3, [10], seed=7)
    zs = np.random.default_rng(8).standard_normal((6, 3)).astype(np.float32)
    geom = local_geometry(
        fn, zs, has_aux=True, polytope=Polytope(k=2, r=0.3), return_sigma=True, progress=False
    )
    geom.save(tmp_path / "geom.npz")
    loaded = type(geom).load(tmp_path / "geom.npz")
    np.testing.assert_array_equal(loaded.psi, geom.psi)
    np.testing.assert_array_equal(loaded.sigma, geom.sigma)
    np.testing.assert_array_equal(loaded.delta_by_layer["layer0"], geom.delta_by_layer["layer0"])
    assert loaded.settings == geom.settings
    assert list(loaded.to_frame().columns) == ["psi", "nu", "rank", "delta", "delta/layer0"]
    assert [p.name for p in tmp_path.iterdir()] == ["geom.npz"]  # no temporary file left behind
