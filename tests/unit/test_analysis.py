"""Vendi score, level sets and correlations."""

import numpy as np
import pandas as pd
import pytest

from geomlib.analysis import equal_count_bins, equal_width_bins, rank_correlations, vendi_per_level_set
from geomlib.metrics import vendi_score


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
