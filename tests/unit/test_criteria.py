"""The ledger's criterion objects and the statistics behind them, against ground truth that does not
come from the code: simulated data with known population values, brute-force counts, a closed form."""

import numpy as np
import pytest
from scipy import stats

from geomlib.methods.analysis import partial_spearman, rank_correlation, vendi_rise_and_drop
from geomlib.methods.complexity import compressed_size, spatial_information
from geomlib.tools.ledger import (
    CHECK,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    AddsInformation,
    Claim,
    Extremum,
    MostBins,
    NoEffect,
    RankCorrelation,
    RiseAndDrop,
    Verdict,
    gated,
    ledger_markdown,
    rank_correlation_interval,
)


def test_rank_correlation_interval_covers_the_population_value():
    # Bivariate normal with Pearson r has Spearman rho_s = (6 / pi) arcsin(r / 2) (Pearson 1907).
    rng = np.random.default_rng(0)
    r, n, trials = 0.5, 150, 400
    truth = 6 / np.pi * np.arcsin(r / 2)
    covered = 0
    for _ in range(trials):
        x = rng.standard_normal((n, 2)) @ np.linalg.cholesky([[1, r], [r, 1]]).T
        low, high = rank_correlation_interval(stats.spearmanr(x[:, 0], x[:, 1]).statistic, n)
        covered += low <= truth <= high
    assert 0.92 <= covered / trials <= 0.98


def test_bonferroni_widens_the_interval():
    one = rank_correlation_interval(0.3, 100)
    three = rank_correlation_interval(0.3, 100, tests=3)
    assert three[0] < one[0] and three[1] > one[1]
    assert np.isnan(rank_correlation_interval(0.3, 3)[0])


def test_partial_spearman_equals_the_precision_matrix_formula():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((2000, 2))
    x = z[:, 0] + 0.5 * z[:, 1] + rng.standard_normal(2000)
    y = z[:, 0] - z[:, 1] + 0.3 * x + rng.standard_normal(2000)
    rho, n = partial_spearman(x, y, [z[:, 0], z[:, 1]])
    # Independent formula: -P_xy / sqrt(P_xx P_yy), P the inverse of the rank correlation matrix.
    ranks = np.column_stack([stats.rankdata(v) for v in (x, y, z[:, 0], z[:, 1])])
    precision = np.linalg.inv(np.corrcoef(ranks.T))
    assert n == 2000
    assert rho == pytest.approx(-precision[0, 1] / np.sqrt(precision[0, 0] * precision[1, 1]), abs=1e-10)


def test_partial_spearman_removes_a_common_cause():
    rng = np.random.default_rng(2)
    cause = rng.standard_normal(20_000)
    x, y = cause + 0.5 * rng.standard_normal(20_000), cause + 0.5 * rng.standard_normal(20_000)
    assert rank_correlation(x, y)[0] > 0.6
    assert abs(partial_spearman(x, y, [cause])[0]) < 0.1  # ranks are not linear in the cause: small, not 0


def test_rank_correlation_criterion():
    claim = RankCorrelation(1)
    assert claim.verdict(0.3, 500) == REPRODUCED
    assert claim.verdict(-0.3, 500) == NOT_REPRODUCED
    assert claim.verdict(0.05, 5000) == NOT_REPRODUCED  # significant, but no pattern a reader would see
    assert claim.verdict(0.05, 50) == INCONCLUSIVE  # cannot tell
    assert claim.verdict(0.15, 5000) == REPRODUCED
    assert RankCorrelation(-1).verdict(-0.3, 500) == REPRODUCED
    assert "0.1" in str(claim)


def test_no_effect_is_a_bound_not_a_failed_test():
    claim = NoEffect()
    assert claim.verdict(0.01, 5000) == REPRODUCED
    assert claim.verdict(0.01, 30) == INCONCLUSIVE  # a wide interval cannot show absence
    assert claim.verdict(0.6, 5000) == NOT_REPRODUCED
    assert claim.verdict(-0.6, 5000) == NOT_REPRODUCED


def test_adds_information():
    criterion = AddsInformation(("a", "b"))
    assert criterion.verdict([(0.01, 5000), (0.3, 5000)]) == REPRODUCED
    assert criterion.verdict([(0.01, 5000), (-0.02, 5000)]) == NOT_REPRODUCED
    assert criterion.verdict([(0.05, 200), (0.0, 200)]) == INCONCLUSIVE
    with pytest.raises(ValueError, match="partials"):
        criterion.verdict([(0.1, 100)])


def test_extremum_location():
    t = np.array([0, 50, 100, 150, 200, 300, 500])
    window = Extremum(lowest=True, window=(100, 250))
    inside = (t, [0, -1, -2, -3, -2, -1, 0], np.full(7, 0.1))
    resolved_outside = (t, [0, -5, -2, -3, -2, -1, 0], np.full(7, 0.1))
    noisy_outside = (t, [0, -3.1, -2, -3, -2, -1, 0], np.full(7, 0.5))
    assert window.locate(*inside) == (150, "inside")
    assert window.locate(*resolved_outside) == (50, "outside")
    assert window.locate(*noisy_outside) == (50, "undecided")
    assert window.verdict([inside, inside]) == REPRODUCED
    assert window.verdict([resolved_outside, resolved_outside]) == NOT_REPRODUCED
    assert window.verdict([inside, noisy_outside]) == INCONCLUSIVE
    maximum = Extremum(lowest=False, window=(100, 250))
    assert maximum.locate(t, -np.asarray(inside[1]), inside[2]) == (150, "inside")


def test_most_bins_needs_a_resolved_majority_and_no_bin_the_other_way():
    criterion = MostBins(1)
    up, zero, down = (0.1, 0.5), (-0.2, 0.3), (-0.5, -0.1)

    def verdict(*bins):
        return criterion.verdict([b[0] for b in bins], [b[1] for b in bins])

    assert verdict(up, up, up, up, zero, zero, zero) == REPRODUCED  # 4 of 7 resolved up, none down
    assert verdict(up, up, up, zero, zero, zero, zero) == INCONCLUSIVE  # 3 of 7: no majority
    assert verdict(up, up, up, up, up, up, down) == INCONCLUSIVE  # 6 of 7 up, but one bin falls
    assert verdict(down, down, down, down, up, up, up) == NOT_REPRODUCED  # 4 of 7 down: no majority left
    assert verdict(down, down, up, up) == NOT_REPRODUCED  # half the bins down
    assert verdict(zero, zero, zero) == INCONCLUSIVE
    assert MostBins(-1).verdict([down[0]] * 3, [down[1]] * 3) == REPRODUCED
    assert criterion.verdict([np.nan], [np.nan]) == INCONCLUSIVE


def test_rise_and_drop_criterion_reads_where_the_peak_is():
    criterion = RiseAndDrop()
    interior = {"peak": 3, "interior": True, "lead_interval": (np.nan, np.nan)}
    assert (
        criterion.verdict(interior | {"rise_interval": (0.5, 1.0), "drop_interval": (0.2, 0.9)}) == REPRODUCED
    )
    assert (
        criterion.verdict(interior | {"rise_interval": (0.5, 1.0), "drop_interval": (-0.1, 0.3)})
        == INCONCLUSIVE
    )
    assert (
        criterion.verdict(interior | {"rise_interval": (0.5, 1.0), "drop_interval": (-0.9, -0.2)})
        == NOT_REPRODUCED
    )
    # the peak at an end set: no rise and drop, whatever the interior sets do
    at_end = {"peak": 0, "interior": False, "rise_interval": (0, 0), "drop_interval": (0.3, 0.8)}
    assert criterion.verdict(at_end | {"lead_interval": (0.1, 0.6)}) == NOT_REPRODUCED
    assert criterion.verdict(at_end | {"lead_interval": (-0.2, 0.6)}) == INCONCLUSIVE
    assert criterion.verdict({"peak": -1}) == INCONCLUSIVE


def _clustered(counts_per_set: list[int], per_set: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Level set b holds ``per_set`` images, each one of the first ``counts_per_set[b]`` of a pool of
    orthogonal prototypes (one-hot vectors), so its cosine Vendi score is about that number (the
    exponential of the entropy of the prototypes' shares); neighbouring sets share prototypes, as
    neighbouring level sets of a continuous descriptor share content."""
    features, values = [], []
    pool = np.eye(max(counts_per_set))
    for b, k in enumerate(counts_per_set):
        features.append(pool[rng.integers(0, k, per_set)])
        values.append(b + rng.uniform(0.1, 0.9, per_set))
    return np.concatenate(features), np.concatenate(values)


def test_vendi_rise_and_drop_on_known_diversity():
    rng = np.random.default_rng(3)
    features, values = _clustered([2, 6, 12, 6, 2], 200, rng)
    result = vendi_rise_and_drop(features, values, bins=5, subsample=40, seed=0, boots=60)
    assert result["peak"] == 2
    assert result["scores"][2] == pytest.approx(12, rel=0.15)  # 40 draws from 12 prototypes
    assert result["interior"] and result["rise_interval"][0] > 0 and result["drop_interval"][0] > 0
    assert RiseAndDrop().verdict(result) == REPRODUCED

    # diversity grows to the last set: the peak is an end, ahead of every interior set
    features, values = _clustered([2, 4, 6, 9, 12], 200, rng)
    result = vendi_rise_and_drop(features, values, bins=5, subsample=40, seed=0, boots=60)
    assert result["peak"] == 4 and not result["interior"] and result["lead_interval"][0] > 0
    assert RiseAndDrop().verdict(result) == NOT_REPRODUCED

    # the highest set near the first one (the DiT's curve): a maximum taken among the interior sets would
    # read a rise and a drop; the peak fixed over all sets is the first set, and the row cannot pass
    features, values = _clustered([12, 11, 6, 4, 2], 200, rng)
    result = vendi_rise_and_drop(features, values, bins=5, subsample=40, seed=0, boots=60)
    assert result["peak"] == 0 and RiseAndDrop().verdict(result) != REPRODUCED


def test_vendi_rise_and_drop_leaves_sparse_end_sets_out():
    rng = np.random.default_rng(4)
    features, values = _clustered([2, 6, 12, 6, 2], 200, rng)
    values[np.argmax(values)] += 100  # one far outlier: equal-width level sets 1-4 of 5 are all but empty
    result = vendi_rise_and_drop(
        features, values, bins=5, subsample=40, seed=0, scheme="equal width", boots=5
    )
    assert result["counts"].sum() == len(values) and result["counts"][-1] == 1
    assert len(result["scored"]) < 3 and np.isnan(result["rise"])
    with pytest.raises(ValueError, match="scheme"):
        vendi_rise_and_drop(features, values, 5, 40, 0, scheme="quantile")


def test_compressed_size_orders_by_content_and_accepts_layouts():
    rng = np.random.default_rng(5)
    flat, noise = np.full((1, 28, 28), 0.5), rng.uniform(0, 1, (1, 28, 28))
    stripes = np.tile(np.arange(28) % 2, (28, 1))[None].astype(float)
    sizes = compressed_size(np.concatenate([flat, stripes, noise]))
    assert sizes[0] < sizes[1] < sizes[2]
    assert compressed_size(noise[..., None]) == compressed_size(noise[:, None])
    with pytest.raises(ValueError, match="images must be"):
        compressed_size(np.zeros((2, 4, 4, 5)))


def test_spatial_information_of_a_step_edge():
    image = np.zeros((1, 20, 30))
    image[:, :, 15:] = 1.0
    # Sobel across a unit step: 255 * (1 + 2 + 1) on the two columns beside it, 0 elsewhere; the
    # standard deviation over the (H - 2) x (W - 2) interior is 1020 sqrt(f (1 - f)), f = 2 / (W - 2).
    f = 2 / 28
    assert spatial_information(image)[0] == pytest.approx(1020 * np.sqrt(f * (1 - f)))
    assert spatial_information(np.full((1, 20, 30), 0.3))[0] == 0


def test_kinds_are_labelled_in_the_ledger():
    claim = Claim("k", "nu of an exact linear score is its rank", "construction", "nu", "equal", kind=CHECK)
    table = ledger_markdown(gated([Verdict(claim, "3", REPRODUCED)], {}))
    assert "| *check:* nu of an exact linear score" in table
    with pytest.raises(ValueError, match="kind"):
        Claim("k", "c", "s", "q", "r", kind="aside")


def test_rank_correlation_text_prints_the_interval():
    from geomlib.tools.ledger import rank_correlation_text

    # by hand: tanh(atanh(0.3) -/+ 1.96 sqrt(1.06 / 197)) = 0.164, 0.424
    assert rank_correlation_text(0.3, 200) == "+0.30 [+0.16, +0.42]"
