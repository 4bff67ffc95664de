"""The claims ledger: every paper claim a notebook tests, with a criterion stated before the numbers.

A ``Claim`` is what a source says (quoted or paraphrased, with where it says
it and the public figure it answers), the quantity this run measures to test
it, and the criterion that turns that quantity into a verdict. The verdict is
computed, never written: one of

- ``reproduced``: the criterion holds (at every seed, where there are several);
- ``not reproduced``: its opposite holds (at every seed);
- ``inconclusive``: neither, or the seeds disagree.

Each notebook ends with its ledger (``ledger_markdown``); ``make figures``
collects the stored notebooks' ledgers into ``CLAIMS.md``
(``scripts/collect_claims.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "INCONCLUSIVE",
    "NOT_REPRODUCED",
    "REBUTTAL",
    "REPRODUCED",
    "Claim",
    "Threshold",
    "Verdict",
    "Z95",
    "across_seeds",
    "decide",
    "interval_verdict",
    "ledger_markdown",
    "ledger_summary",
    "normal_interval",
    "p_verdict",
    "show_ledger",
    "threshold_verdict",
]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

# Two-sided 95% quantile of the normal distribution, as the criteria print it ("1.96 standard errors").
Z95 = 1.96

# The authors' rebuttal figures (GitHub repository lukanon/rebuttal), so a reader can put them side by side.
REBUTTAL = "https://github.com/lukanon/rebuttal/blob/main/"


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Threshold:
    """A criterion written once: a quantity beyond ``threshold`` is reproduced, past ``against`` on the
    other side not reproduced, in between inconclusive. ``str()`` is the ledger's text, ``verdict``
    applies the same numbers (``threshold_verdict``)."""

    quantity: str  # how the criterion names the number, e.g. "rank ratio"
    threshold: float
    against: float | None = None
    above: bool = True  # reproduced above the threshold (False: below it)
    unit: str = ""  # printed after the threshold, e.g. " degrees"

    def __str__(self) -> str:
        holds, fails = (">", "<") if self.above else ("<", ">")
        text = f"{self.quantity} {holds} {_number(self.threshold)}{self.unit}: reproduced"
        if self.against is None:
            return text + "; otherwise: not reproduced"
        return text + f"; {fails} {_number(self.against)}: not reproduced"

    def verdict(self, value: float) -> str:
        return threshold_verdict(value, self.threshold, self.above, self.against)


@dataclass(frozen=True)
class Claim:
    """One claim of a source and how this project tests it."""

    key: str  # short identifier, stable across runs (the regression check compares verdicts by key)
    claim: str  # what the source says, quoted or paraphrased
    source: str  # where: "paper Sec. 3, Fig. 3", "rebuttal Fig. 6", "Li et al. 2024, Fig. 2", ...
    quantity: str  # what this run measures
    criterion: str | Threshold  # the rule, stated before the numbers (an object: its text and its rule)
    figure: str | None = None  # the public figure it answers (a URL), if any

    def verdict(self, *values) -> str:
        """The verdict of a criterion object on this run's ``values`` (a text criterion has no rule)."""
        if isinstance(self.criterion, str):
            raise TypeError(f"claim {self.key!r} states its criterion as text; compute the verdict beside it")
        return self.criterion.verdict(*values)


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    value: str  # this run's number(s) with their uncertainty, as printed
    verdict: str  # reproduced / not reproduced / inconclusive

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")


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


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ledger_markdown(verdicts: Sequence[Verdict]) -> str:
    """The ledger as a Markdown table (claim, source, quantity, criterion, this run, verdict)."""
    lines = [
        "| claim | source | quantity | criterion | this run | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        c = v.claim
        source = f"[{c.source}]({c.figure})" if c.figure else c.source
        lines.append(
            "| "
            + " | ".join(
                _cell(x) for x in (c.claim, source, c.quantity, str(c.criterion), v.value, f"**{v.verdict}**")
            )
            + " |"
        )
    return "\n".join(lines)


def show_ledger(verdicts: Sequence[Verdict]):
    """The ledger for a notebook cell: rendered Markdown in Jupyter, on GitHub and in the companion site."""
    from IPython.display import Markdown

    return Markdown(ledger_markdown(verdicts))


def ledger_summary(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """``{claim key: verdict}``, for the notebook's regression-checked summary."""
    return {v.claim.key: v.verdict for v in verdicts}
