"""The three verdicts and the rules that turn a number into one (``geomlib.tools.ledger`` re-exports
them): every criterion of the ledger decides through these, so the outcomes are written once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "VERDICTS",
    "Z95",
    "across_seeds",
    "decide",
    "interval_verdict",
    "normal_interval",
    "p_verdict",
    "threshold_verdict",
]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

# Two-sided 95% quantile of the normal distribution, as the criteria print it ("1.96 standard errors").
Z95 = 1.96


def decide(holds: bool, fails: bool = False) -> str:
    """The verdict of a criterion: reproduced when it ``holds``, else not reproduced when its opposite
    holds (``fails``), else inconclusive. Every verdict a study computes goes through here or through
    the rules below, so the three outcomes are written once."""
    return REPRODUCED if holds else NOT_REPRODUCED if fails else INCONCLUSIVE


def normal_interval(mean, stderr):
    """``(low, high)``: the 95% normal interval ``mean -/+ Z95 stderr`` (arrays or numbers)."""
    return mean - Z95 * stderr, mean + Z95 * stderr


def interval_verdict(low: float, high: float, expected_sign: int) -> str:
    """An interval (e.g. a 95% interval of a difference) against an expected sign.

    Reproduced when it excludes 0 on the expected side, not reproduced when it
    excludes 0 on the other side, inconclusive when it holds 0 (or is NaN).
    """
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be 1 or -1; got {expected_sign!r}")
    if not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    if low > 0 or high < 0:
        return REPRODUCED if (low > 0) == (expected_sign > 0) else NOT_REPRODUCED
    return INCONCLUSIVE


def threshold_verdict(
    value: float, threshold: float, above: bool = True, against: float | None = None
) -> str:
    """``value`` beyond ``threshold`` (above it, or below it with ``above=False``): reproduced.

    against: where the claim fails outright (e.g. a correlation of the wrong
    sign); a value past it on the other side is "not reproduced", anything in
    between "inconclusive". Without ``against`` a value short of the threshold
    is "not reproduced".
    """
    if not np.isfinite(value):
        return INCONCLUSIVE
    holds = value > threshold if above else value < threshold
    if holds:
        return REPRODUCED
    if against is None:
        return NOT_REPRODUCED
    fails = value < against if above else value > against
    return NOT_REPRODUCED if fails else INCONCLUSIVE


def p_verdict(p: float, difference: float, expected_sign: int, alpha: float = 0.05) -> str:
    """A test's p-value and the sign of its effect: significant in the expected direction, reproduced;
    significant the other way, not reproduced; else inconclusive."""
    if not (np.isfinite(p) and np.isfinite(difference)) or p >= alpha:
        return INCONCLUSIVE
    return REPRODUCED if np.sign(difference) == expected_sign else NOT_REPRODUCED


def across_seeds(verdicts: Sequence[str]) -> str:
    """One verdict from several seeds: the common one if all agree, else inconclusive."""
    verdicts = list(verdicts)
    if not verdicts:
        return INCONCLUSIVE
    return verdicts[0] if all(v == verdicts[0] for v in verdicts) else INCONCLUSIVE
