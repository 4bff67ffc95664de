"""Vendi score, level sets and correlations."""

import numpy as np
import pandas as pd
import pytest

from geomlib.methods.analysis import (
    equal_count_bins,
    equal_width_bins,
    level_set_composition,
    rank_correlations,
    resolved,
    spearman,
    vendi_per_level_set,
)
from geomlib.methods.metrics import vendi_score


def direct_vendi(x):
    """exp(entropy of the eigenvalues of K / n), K the cosine-similarity matrix (Friedman & Dieng, 2023)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.linalg.eigvalsh(x @ x.T / len(x))
    eig = eig[eig > 1e-12]
    return float(np.exp(-np.sum(eig * np.log(eig))))


def test_vendi_score_known_values_and_a_direct_computation():
    assert vendi_score(np.eye(7)) == pytest.approx(7.0)
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for shape in [(40, 10), (10, 40)]:  # both the dual and the direct form
        x = rng.standard_normal(shape)
        assert vendi_score(x) == pytest.approx(direct_vendi(x), rel=1e-8)
    with pytest.raises(ValueError, match="zero norm"):
        vendi_score(np.zeros((3, 4)))


def test_level_set_bins():
    values = np.array([0.0, 0.1, 0.2, 0.9, 1.0, np.inf])
    index, edges = equal_width_bins(values, 2)
    np.testing.assert_array_equal(index, [0, 0, 0, 1, 1, -1])
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    counts = np.bincount(equal_count_bins(np.random.default_rng(0).standard_normal(100), 4)[0])
    np.testing.assert_array_equal(counts, [25, 25, 25, 25])
    with pytest.raises(ValueError, match="bins"):
        equal_width_bins(values, 0)


def test_vendi_per_level_set_compares_equal_counts():
    """Duplicates in the low level set: its diversity is low whatever its count."""
    rng = np.random.default_rng(1)
    diverse = rng.standard_normal((200, 20))
    repeated = np.repeat(rng.standard_normal((2, 20)), 100, axis=0)
    features = np.concatenate([repeated, diverse])
    values = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(2, 3, 200)])
    table = vendi_per_level_set(features, values, bins=2, subsample=20, repeats=5, seed=0)
    low, high = table.loc[("equal width", 0), "vendi@20"], table.loc[("equal width", 1), "vendi@20"]
    assert low < 2.01 and high > 10
    assert list(table.loc["equal count", "count"]) == [200, 200]
    small = vendi_per_level_set(features, values, bins=2, subsample=300, repeats=2, seed=0)
    assert small["vendi@300"].isna().all()  # no level set holds 300 samples


def test_rank_correlations_report_sample_sizes():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.inf], "b": [3.0, 2.0, 1.0, 0.0], "c": [1.0, 2.0, 3.0, 4.0]})
    table = rank_correlations(frame, ["a", "b", "c"])
    assert table.loc[("a", "b"), "spearman rho"] == pytest.approx(-1.0)
    assert table.loc[("a", "b"), "n"] == 3 and table.loc[("b", "c"), "n"] == 4


def test_prompt_level_tests_count_prompts_not_samples():
    """Near-copies inflate a sample-level test; the prompt-level permutation p matches exact enumeration."""
    from itertools import combinations

    from geomlib.methods.analysis import prompt_level_tests

    rng = np.random.default_rng(0)
    prompt_means = {"m0": 1.0, "m1": 1.6, "m2": 0.9, "o0": 0.2, "o1": 1.1, "o2": 0.4}
    rows = [
        {
            "prompt": p,
            "group": "mem" if p[0] == "m" else "ord",
            "step": 0,
            "psi": mean + 1e-3 * rng.standard_normal(),
        }
        for p, mean in prompt_means.items()
        for _ in range(30)  # 30 near-copies per prompt
    ]
    frame = pd.DataFrame(rows)
    table = prompt_level_tests(
        frame,
        unit="prompt",
        group="group",
        first="mem",
        second="ord",
        by=["step"],
        descriptors=("psi",),
        permutations=20_000,
        seed=1,
    ).iloc[0]
    means = frame.groupby("prompt")["psi"].mean()
    x, y = means[["m0", "m1", "m2"]].to_numpy(), means[["o0", "o1", "o2"]].to_numpy()
    observed = x.mean() - y.mean()
    values = np.concatenate([x, y])
    splits = [
        np.mean(values[list(c)]) - np.mean(np.delete(values, list(c))) for c in combinations(range(6), 3)
    ]
    exact = np.mean(np.abs(splits) >= abs(observed) - 1e-12)  # 2 of 20 splits: p = 0.1
    assert table["units first"] == 3 and table["units second"] == 3
    assert abs(table["permutation p"] - exact) < 0.01
    assert table["sample welch p"] < 1e-10 < exact  # pseudo-replication makes copies look independent
    np.testing.assert_allclose(table["difference"], observed, rtol=1e-12)


def test_spearman_by_hand_and_undefined_below_numerical_resolution():
    # one swapped pair in four: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    rho, p = spearman([1.0, 2.0, 3.0, 4.0], [1, 3, 2, 4])
    assert rho == pytest.approx(0.8) and 0 < p < 1
    # float32 values that differ only in the sixth digit rank rounding error, not the data
    flat = 7.9993 + np.array([1.2e-6, -3.1e-6, 2.2e-6, 0.4e-6])
    assert not resolved(flat) and resolved([1.0, 1.01])
    assert np.isnan(spearman(flat, [1, 3, 2, 4])[0]) and np.isnan(spearman([1, 2, 3], [5, 5, 5])[1])
    assert not resolved([np.nan, 2.0])  # a single finite value does not vary


def test_level_set_composition_counts_each_group_by_brute_force():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 4, 200)
    values = rng.standard_normal(200) + groups  # groups overlap in value
    table = level_set_composition(values, groups, 5)
    order = np.argsort(values)
    for level, members in enumerate(order.reshape(5, 40)):  # equal-count sets of 40
        for group in range(4):
            assert table.loc[level, group] == np.sum(groups[members] == group)
        assert table.loc[level, "mean"] == pytest.approx(values[members].mean(), abs=0.005)
