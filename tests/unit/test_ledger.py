"""The claims ledger: verdicts follow from the numbers and the stated rule, and the table renders."""

import numpy as np
import pytest

from geomlib.tools.ledger import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    Verdict,
    across_seeds,
    gated,
    interval_verdict,
    ledger_markdown,
    ledger_summary,
    p_verdict,
    threshold_verdict,
)


@pytest.mark.parametrize(
    ("low", "high", "sign", "expected"),
    [
        (-2.0, -0.1, -1, REPRODUCED),
        (0.1, 2.0, -1, NOT_REPRODUCED),
        (-0.1, 0.1, -1, INCONCLUSIVE),
        (0.2, 0.3, 1, REPRODUCED),
        (np.nan, 1.0, 1, INCONCLUSIVE),
    ],
)
def test_interval_verdict(low, high, sign, expected):
    assert interval_verdict(low, high, sign) == expected


def test_threshold_and_p_verdicts():
    assert threshold_verdict(0.6, 0.5) == REPRODUCED
    assert threshold_verdict(0.4, 0.5) == NOT_REPRODUCED
    assert threshold_verdict(0.2, 0.5, against=0.0) == INCONCLUSIVE
    assert threshold_verdict(-0.2, 0.5, against=0.0) == NOT_REPRODUCED
    assert threshold_verdict(0.05, 0.1, above=False) == REPRODUCED
    assert p_verdict(0.01, -3.0, -1) == REPRODUCED
    assert p_verdict(0.01, 3.0, -1) == NOT_REPRODUCED
    assert p_verdict(0.2, -3.0, -1) == INCONCLUSIVE


def test_a_verdict_that_flips_between_seeds_is_inconclusive():
    assert across_seeds([REPRODUCED] * 3) == REPRODUCED
    assert across_seeds([NOT_REPRODUCED] * 2) == NOT_REPRODUCED
    assert across_seeds([REPRODUCED, NOT_REPRODUCED, REPRODUCED]) == INCONCLUSIVE
    assert across_seeds([]) == INCONCLUSIVE


def test_ledger_table_escapes_pipes_and_links_the_figure():
    claim = Claim("k", "a | b", "rebuttal Fig. 1", "|x|", "x > 0", "https://example.org/fig.png")
    table = ledger_markdown(gated([Verdict(claim, "1.0", REPRODUCED)], {}))
    assert table.splitlines()[2].count(" | ") == 5  # six cells, pipes in the text escaped
    assert "[rebuttal Fig. 1](https://example.org/fig.png)" in table and "**reproduced**" in table
    assert ledger_summary(gated([Verdict(claim, "1.0", REPRODUCED)], {})) == {"k": REPRODUCED}
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict(claim, "1.0", "maybe")


def test_decide_reads_the_criterion_before_its_opposite():
    from geomlib.tools.ledger import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, decide

    assert decide(True) == decide(True, True) == REPRODUCED
    assert decide(False, True) == NOT_REPRODUCED
    assert decide(False) == decide(False, False) == INCONCLUSIVE


def test_normal_interval_is_mean_plus_minus_1_96_standard_errors():
    from geomlib.tools.ledger import normal_interval

    low, high = normal_interval(np.array([1.0, -2.0]), np.array([0.5, 1.0]))
    np.testing.assert_allclose(low, [1.0 - 0.98, -2.0 - 1.96])
    np.testing.assert_allclose(high, [1.0 + 0.98, -2.0 + 1.96])


def test_a_threshold_criterion_prints_and_applies_the_same_numbers():
    from geomlib.tools.ledger import Threshold

    below = Threshold("rank ratio", 0.5, against=0.9, above=False)
    assert str(below) == "rank ratio < 0.5: reproduced; > 0.9: not reproduced"
    assert [below.verdict(v) for v in (0.2, 0.7, 0.95)] == [REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED]
    above = Threshold("gap", 3, unit=" dB")
    assert str(above) == "gap > 3 dB: reproduced; otherwise: not reproduced"
    assert [above.verdict(v) for v in (4.0, 2.0, float("nan"))] == [REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]
    claim = Claim("k", "c", "s", "q", above)
    assert claim.verdict(5.0) == REPRODUCED
    with pytest.raises(TypeError, match="states its criterion as text"):
        Claim("k", "c", "s", "q", "x > 0").verdict(1.0)


def test_rows_made_inconclusive_for_a_stated_reason_keep_their_numbers_and_former_verdict():
    from geomlib.tools.ledger import INCONCLUSIVE, REPRODUCED, Claim, Verdict, inconclusive_because

    row = Verdict(Claim("k", "c", "s", "q", "rule"), "rho 0.9", REPRODUCED)
    (gated,) = inconclusive_because([row])
    assert gated.verdict == INCONCLUSIVE and gated.claim is row.claim
    assert gated.value == "rho 0.9; the model fails its quality gate (reproduced otherwise)"
    assert (
        inconclusive_because([row], "too few prompts")[0].value
        == "rho 0.9; too few prompts (reproduced otherwise)"
    )


def test_a_significance_criterion_reads_the_p_value_and_the_effect_sign():
    """p < alpha with the claimed sign reproduces, the other sign does not, a larger p is inconclusive; a
    claim without a direction is reproduced by p < alpha alone and never contradicted."""
    from geomlib.tools.ledger import Significant

    lower = Significant(-1, "Wilcoxon p", "the median change")
    assert str(lower) == (
        "Wilcoxon p < 0.05 with the median change < 0: reproduced; significant the other way: not reproduced"
    )
    assert [lower.verdict(p, e) for p, e in ((0.01, -2.0), (0.01, 2.0), (0.2, -2.0), (np.nan, -1.0))] == [
        REPRODUCED,
        NOT_REPRODUCED,
        INCONCLUSIVE,
        INCONCLUSIVE,
    ]
    undirected = Significant(0, "permutation p")
    assert "otherwise inconclusive" in str(undirected)
    assert [undirected.verdict(p) for p in (0.001, 0.3, np.nan)] == [REPRODUCED, INCONCLUSIVE, INCONCLUSIVE]
    with pytest.raises(ValueError, match="sign must be"):
        Significant(2)


def test_an_every_seed_criterion_needs_the_same_sign_at_every_seed():
    """Signs per seed, or 95% intervals (value +/- 1.96 s.e.) clear of 0 at every seed."""
    from geomlib.tools.ledger import EverySeed

    positive = EverySeed(+1)
    assert str(positive) == "> 0 at every seed: reproduced; < 0 at every seed: not reproduced"
    assert positive.verdict([0.3, 0.1]) == REPRODUCED
    assert positive.verdict([-0.3, -0.1]) == NOT_REPRODUCED
    assert positive.verdict([0.3, -0.1]) == INCONCLUSIVE
    assert positive.verdict([0.3, 0.0]) == INCONCLUSIVE
    below = EverySeed(-1, intervals=True)
    assert str(below) == "interval below 0 at every seed: reproduced; above 0 at every seed: not reproduced"
    # -1 +/- 1.96 x 0.4 = [-1.78, -0.22]; -1 +/- 1.96 x 0.6 = [-2.18, +0.18]
    assert below.verdict([-1.0, -1.0], [0.4, 0.4]) == REPRODUCED
    assert below.verdict([-1.0, -1.0], [0.4, 0.6]) == INCONCLUSIVE
    assert below.verdict([1.0, 1.0], [0.4, 0.4]) == NOT_REPRODUCED
    with pytest.raises(ValueError, match="stderrs"):
        below.verdict([-1.0])


def test_a_row_on_a_model_that_fails_its_gate_is_inconclusive_and_says_which():
    """The README's rule, applied by the ledger itself: every row names the models it reads, and one
    model below its gate makes the row inconclusive, its numbers and former verdict kept."""
    from types import SimpleNamespace

    good, bad = SimpleNamespace(passed=True), SimpleNamespace(passed=False)
    rows = [
        Verdict(Claim("a", "c", "s", "q", "rule", models=("seed 0", "seed 1")), "1.0", REPRODUCED),
        Verdict(Claim("b", "c", "s", "q", "rule", models=("seed 0",)), "2.0", NOT_REPRODUCED),
        Verdict(Claim("c", "c", "s", "q", "rule"), "3.0", REPRODUCED),  # reads no trained model
    ]
    out = gated(rows, {"seed 0": good, "seed 1": bad})
    assert [v.verdict for v in out] == [INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED]
    assert out[0].value == "1.0; seed 1 fails the quality gate (reproduced otherwise)"
    assert gated(rows, {"seed 0": True, "seed 1": None})[0].verdict == REPRODUCED  # None: no gate here


def test_no_ledger_renders_a_row_whose_gates_were_not_applied():
    claim = Claim("a", "c", "s", "q", "rule", models=("seed 0",))
    with pytest.raises(ValueError, match="quality gate the notebook did not give"):
        gated([Verdict(claim, "1", REPRODUCED)], {})
    for render in (ledger_markdown, ledger_summary):
        with pytest.raises(ValueError, match=r"ledger.gated\(verdicts, gates\)"):
            render([Verdict(claim, "1", REPRODUCED)])


def test_a_sensitivity_row_names_its_primary_row_and_counts_apart():
    primary = Claim("main", "c", "s", "equal count", "rule")
    aside = primary.sensitivity("main_equal_width", "equal width")
    assert aside.kind == "sensitivity" and aside.primary == "main" and aside.claim == primary.claim
    table = ledger_markdown(gated([Verdict(aside, "1", REPRODUCED)], {}))
    assert "| *sensitivity (main):* c |" in table
    with pytest.raises(ValueError, match="names its primary row"):
        Claim("x", "c", "s", "q", "rule", kind="sensitivity")


def test_the_key_results_box_lists_the_primary_claims_by_verdict_in_words():
    from geomlib.tools.key_results import key_results_markdown
    from geomlib.tools.ledger import CHECK

    rows = [
        Verdict(
            Claim("a", 'psi is low on the manifold ("lower on the manifold")', "s", "q", "r"), "1", REPRODUCED
        ),
        Verdict(Claim("b", "nu is low", "s", "q", "r"), "2", INCONCLUSIVE),
        Verdict(Claim("c", "a check", "s", "q", "r", kind=CHECK), "3", REPRODUCED),
        Verdict(Claim("d", "delta is high", "s", "q", "r"), "4", REPRODUCED),
    ]
    box = key_results_markdown(rows, "default")
    assert "Key results of the `default` run" in box
    reproduced, rest = box.split("*Reproduced* (2):")[1].split("*Inconclusive* (1):")
    assert reproduced.split() == [
        "-",
        "psi",
        "is",
        "low",
        "on",
        "the",
        "manifold",
        "-",
        "delta",
        "is",
        "high",
    ]
    assert rest.split() == ["-", "nu", "is", "low"]
    assert "check" not in box and "Not reproduced" not in box
