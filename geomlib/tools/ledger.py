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
from dataclasses import dataclass, replace

import numpy as np

from .verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    Z95,
    across_seeds,
    decide,
    interval_verdict,
    normal_interval,
    p_verdict,
    threshold_verdict,
)

__all__ = [
    "CHECK",
    "CLAIM",
    "INCONCLUSIVE",
    "KINDS",
    "NOT_REPRODUCED",
    "QUESTION",
    "READING",
    "REBUTTAL",
    "SENSITIVITY",
    "REPRODUCED",
    "AddsInformation",
    "Claim",
    "DropAtTop",
    "EverySeed",
    "Extremum",
    "MostBins",
    "NoEffect",
    "RankCorrelation",
    "RiseAndDrop",
    "Significant",
    "Threshold",
    "Verdict",
    "Z95",
    "across_seeds",
    "decide",
    "gated",
    "inconclusive_because",
    "interval_verdict",
    "ledger_markdown",
    "ledger_summary",
    "normal_interval",
    "p_verdict",
    "rank_correlation_interval",
    "rank_correlation_text",
    "show_ledger",
    "threshold_verdict",
]


# What a row is. A source's claim (the paper, its rebuttal, a related paper), tested by its one primary
# analysis declared before the numbers (the map, level-set rule, model and tolerance the source used or
# implies), is what the ledger exists for and what the totals count. The rest is counted apart: a
# sensitivity row repeats a claim's test under another choice (equal-width level sets beside
# equal-count ones, the UNet map beside the decoder, another tolerance), named by the key of its
# primary row; a reading is a claim this project reads off a figure whose text the sources do not hold
# (so no sentence is quoted); a check is a row that cannot fail when the code is right (e.g. nu of an
# exact linear score is its rank by construction), kept because a bug would fail it; a question is this
# project's own, one the sources do not ask.
CLAIM, SENSITIVITY, READING, CHECK, QUESTION = "claim", "sensitivity", "reading", "check", "question"
KINDS = (CLAIM, SENSITIVITY, READING, CHECK, QUESTION)

# The smallest rank correlation a reader would call a pattern (Cohen's "small" effect). A criterion
# that asks for an effect asks for its interval to clear 0 and its size to reach this; a claim of no
# effect asks for the interval to sit inside +/- this bound.
PATTERN = 0.1

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
class Significant:
    """A test's p-value and the sign of its effect: significant in the claimed direction, reproduced;
    significant the other way, not reproduced; otherwise inconclusive (``p_verdict``). ``sign = 0``: a
    claim without a direction (a difference exists), which a test short of ``alpha`` cannot contradict.
    """

    sign: int  # +1 / -1: the effect the claim expects; 0: no direction claimed
    test: str = "p"  # how the text names the test, e.g. "Wilcoxon p"
    effect: str = "the effect"  # how it names the effect, e.g. "the median change"
    alpha: float = 0.05

    def __post_init__(self):
        if self.sign not in (-1, 0, 1):
            raise ValueError(f"sign must be -1, 0 or 1; got {self.sign!r}")

    def __str__(self) -> str:
        if self.sign == 0:
            return (
                f"{self.test} < {_number(self.alpha)}: reproduced; otherwise inconclusive (the claim has "
                "no direction to contradict)"
            )
        side = "> 0" if self.sign > 0 else "< 0"
        return (
            f"{self.test} < {_number(self.alpha)} with {self.effect} {side}: reproduced; significant the "
            "other way: not reproduced"
        )

    def verdict(self, p: float, effect: float = 0.0) -> str:
        if self.sign == 0:
            return decide(bool(np.isfinite(p) and p < self.alpha))
        return p_verdict(p, effect, self.sign, self.alpha)


@dataclass(frozen=True)
class EverySeed:
    """A signed effect measured at each seed (the independent replicates): the claimed sign at every seed
    reproduces, the other sign at every seed does not, a mix (or a zero) is inconclusive. With
    ``intervals``, a seed counts only when its 95% interval clears 0 (``interval_verdict``)."""

    sign: int  # +1: the effect is claimed positive, -1: negative
    intervals: bool = False

    def __str__(self) -> str:
        if self.intervals:
            side, other = ("above", "below") if self.sign > 0 else ("below", "above")
            return f"interval {side} 0 at every seed: reproduced; {other} 0 at every seed: not reproduced"
        side, other = ("> 0", "< 0") if self.sign > 0 else ("< 0", "> 0")
        return f"{side} at every seed: reproduced; {other} at every seed: not reproduced"

    def verdict(self, values, stderrs=None) -> str:
        """``values`` per seed; ``stderrs`` per seed when the criterion reads intervals."""
        values = np.asarray(values, float)
        if self.intervals:
            if stderrs is None:
                raise ValueError("stderrs must be given for a criterion on intervals")
            lows, highs = normal_interval(values, np.asarray(stderrs, float))
            return across_seeds(
                [interval_verdict(lo, hi, self.sign) for lo, hi in zip(lows, highs, strict=True)]
            )
        signs = np.sign(values) * self.sign
        return across_seeds(
            [REPRODUCED if s > 0 else NOT_REPRODUCED if s < 0 else INCONCLUSIVE for s in signs]
        )


def rank_correlation_interval(rho: float, n: int, controls: int = 0, tests: int = 1) -> tuple[float, float]:
    """95% interval of a Spearman (or partial Spearman) correlation of ``n`` pairs: Fisher's z with the
    variance ``1.06 / (n - 3 - controls)`` of Fieller, Hartley & Pearson (1957) for rank correlations;
    ``controls`` variables partialled out; Bonferroni-widened when it is one of ``tests`` intervals
    read together (family-wise 95%)."""
    from scipy.stats import norm

    dof = n - 3 - controls
    if dof < 1 or not np.isfinite(rho):
        return float("nan"), float("nan")
    quantile = Z95 if tests == 1 else float(norm.ppf(1 - 0.025 / tests))
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), quantile * np.sqrt(1.06 / dof)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def rank_correlation_text(rho: float, n: int, controls: int = 0, tests: int = 1) -> str:
    """``+0.37 [+0.34, +0.39]``: a rank correlation with its interval (``rank_correlation_interval``)."""
    low, high = rank_correlation_interval(rho, n, controls, tests)
    return f"{rho:+.2f} [{low:+.2f}, {high:+.2f}]"


@dataclass(frozen=True)
class RankCorrelation:
    """A claimed monotone relation: Spearman rho of the expected sign, big enough to see.

    Reproduced: the 95% interval clears 0 on the expected side and ``|rho| >= pattern``; not
    reproduced: the interval clears 0 on the other side, or lies inside (-pattern, pattern) (a
    relation too weak for a reader to call a pattern); otherwise inconclusive.
    """

    sign: int  # +1: a positive relation is claimed, -1: a negative one
    pattern: float = PATTERN
    controls: str = ""  # partial correlation: the variables held fixed, as the text names them

    def __str__(self) -> str:
        side = "> 0" if self.sign > 0 else "< 0"
        partial = f" (partial, given {self.controls})" if self.controls else ""
        return (
            f"rho{partial} {side} with its 95% interval clear of 0 and |rho| >= {_number(self.pattern)}: "
            f"reproduced; interval clear of 0 the other way, or inside +/-{_number(self.pattern)} "
            "(no pattern a reader would see): not reproduced"
        )

    def verdict(self, rho: float, n: int, controls: int = 0) -> str:
        low, high = rank_correlation_interval(rho, n, controls)
        if not np.isfinite(low):
            return INCONCLUSIVE
        expected = low > 0 if self.sign > 0 else high < 0
        opposite = high < 0 if self.sign > 0 else low > 0
        negligible = -self.pattern < low and high < self.pattern
        return decide(expected and abs(rho) >= self.pattern, opposite or negligible)


@dataclass(frozen=True)
class NoEffect:
    """A claimed absence of a relation, tested by a bound on its size (not by a failed test).

    Reproduced: the 95% interval of rho lies inside (-bound, bound); not reproduced: it lies entirely
    beyond the bound (``|rho| > bound`` with confidence); otherwise inconclusive.
    """

    bound: float = PATTERN

    def __str__(self) -> str:
        b = _number(self.bound)
        return f"95% interval of rho inside +/-{b}: reproduced; entirely beyond +/-{b}: not reproduced"

    def verdict(self, rho: float, n: int, controls: int = 0) -> str:
        low, high = rank_correlation_interval(rho, n, controls)
        if not np.isfinite(low):
            return INCONCLUSIVE
        return decide(-self.bound < low and high < self.bound, low > self.bound or high < -self.bound)


@dataclass(frozen=True)
class AddsInformation:
    """ "Not redundant": a descriptor tells something about an outcome that the other two do not.

    ``verdict(partials)``: per outcome, the partial Spearman correlation of the descriptor with the
    outcome given the other two descriptors, and its number of rows. Intervals are family-wise 95%
    over the outcomes (Bonferroni). Reproduced: for at least one outcome the interval clears 0 and
    ``|rho| >= pattern``; not reproduced (redundant for these outcomes): every interval lies inside
    +/- ``pattern``; otherwise inconclusive.
    """

    outcomes: tuple[str, ...]
    pattern: float = PATTERN

    def __str__(self) -> str:
        p = _number(self.pattern)
        return (
            f"for at least one of {', '.join(self.outcomes)}: partial rho given the other two descriptors "
            f"with its interval (95% family-wise) clear of 0 and |rho| >= {p}: reproduced; every interval "
            f"inside +/-{p}: not reproduced"
        )

    def verdict(self, partials) -> str:
        """``partials``: ``(rho, n)`` per outcome, in the order of ``outcomes``."""
        if len(partials) != len(self.outcomes):
            raise ValueError(
                f"partials must give one (rho, n) per outcome {self.outcomes}; got {len(partials)}"
            )
        intervals = [rank_correlation_interval(rho, n, 2, len(partials)) for rho, n in partials]
        adds = any(
            (low > 0 or high < 0) and abs(rho) >= self.pattern
            for (rho, _), (low, high) in zip(partials, intervals, strict=True)
        )
        redundant = all(-self.pattern < low and high < self.pattern for low, high in intervals)
        return decide(adds, redundant)


@dataclass(frozen=True)
class Extremum:
    """Where a curve's extremum lies: "the signed difference is minimized (maximized) near t0".

    ``verdict(positions, values, stderrs, window)``: per seed, the curve's values and standard errors
    at ``positions``. A seed is *inside* when the extremum falls in ``window``; *outside* when it falls
    outside and the best value inside the window is worse by more than Z95 combined standard errors
    (the location is resolved); otherwise undecided. Reproduced: inside at every seed; not reproduced:
    outside at every seed; otherwise inconclusive.
    """

    lowest: bool  # True: the claim is about the minimum; False: the maximum
    window: tuple[float, float]
    unit: str = "t"

    def __str__(self) -> str:
        which = "minimum" if self.lowest else "maximum"
        lo, hi = self.window
        return (
            f"the signed curve's {which} in {self.unit} in [{_number(lo)}, {_number(hi)}] at every seed: "
            f"reproduced; at every seed outside it, with the window's best value {Z95} combined s.e. "
            "short of it: not reproduced"
        )

    def locate(self, positions, values, stderrs) -> tuple[float, str]:
        """The extremum's position and whether it is inside the window, outside it, or undecided."""
        positions, values, stderrs = (np.asarray(a, float) for a in (positions, values, stderrs))
        sign = 1.0 if self.lowest else -1.0
        best = int(np.argmin(sign * values))
        inside = (positions >= self.window[0]) & (positions <= self.window[1])
        if inside[best]:
            return float(positions[best]), "inside"
        if not inside.any():
            return float(positions[best]), "outside"
        in_best = int(np.flatnonzero(inside)[np.argmin(sign * values[inside])])
        gap = sign * (values[in_best] - values[best])
        resolved = gap > Z95 * np.hypot(stderrs[in_best], stderrs[best])
        return float(positions[best]), "outside" if resolved else "undecided"

    def verdict(self, per_seed_curves) -> str:
        """``per_seed_curves``: ``(positions, values, stderrs)`` per seed."""
        return self.verdict_places([self.locate(*curve)[1] for curve in per_seed_curves])

    @staticmethod
    def verdict_places(places) -> str:
        """The verdict from each seed's ``locate`` outcome (inside / outside / undecided)."""
        return decide(all(p == "inside" for p in places), all(p == "outside" for p in places))


@dataclass(frozen=True)
class RiseAndDrop:
    """ "Rises over the level sets, then drops in the highest ones": a peak away from the ends, and both
    halves around it, each with an interval (``geomlib.methods.analysis.vendi_rise_and_drop``).

    The peak is the level set with the highest score (point estimate, fixed before the intervals). An
    interior peak: reproduced when the rise (peak minus the first set) and the drop (peak minus the
    last set) both have their 95% interval above 0; not reproduced when either lies below 0. A peak at
    an end set: not reproduced when that end's lead over the best interior set has its interval above
    0 (the scores rise to the end, or fall from the start, by more than noise). Anything else, or fewer
    than three scorable sets: inconclusive.
    """

    def __str__(self) -> str:
        return (
            "peak (highest level set) interior, with the rise (peak minus first set) and the drop (peak "
            "minus last set) each with a bootstrap 95% interval above 0: reproduced; the peak an end set "
            "ahead of every interior set with its interval above 0, or a rise or drop interval below 0: "
            "not reproduced"
        )

    def verdict(self, result: dict) -> str:
        """``result``: what ``vendi_rise_and_drop`` returns."""
        if result.get("peak", -1) < 0:
            return INCONCLUSIVE
        if result["interior"]:
            (rise_low, rise_high), (drop_low, drop_high) = result["rise_interval"], result["drop_interval"]
            if not all(np.isfinite(v) for v in (rise_low, rise_high, drop_low, drop_high)):
                return INCONCLUSIVE
            return decide(rise_low > 0 and drop_low > 0, rise_high < 0 or drop_high < 0)
        lead_low, _ = result["lead_interval"]
        return decide(False, bool(np.isfinite(lead_low) and lead_low > 0))


@dataclass(frozen=True)
class DropAtTop:
    """ "For the highest level sets, the score drops compared to prior level sets": the last level set
    below the peak of those before it (``vendi_rise_and_drop``'s peak and drop, the peak fixed from the
    point estimate). Reproduced: the peak is not the last set and the drop (peak minus the last set)
    has its 95% interval above 0; not reproduced: the last set is the peak, ahead of every interior set
    with its interval above 0, or the drop's interval lies below 0; otherwise inconclusive."""

    def __str__(self) -> str:
        return (
            "the highest level set below the peak of the sets before it, the drop (peak minus highest set) "
            "with its bootstrap 95% interval above 0: reproduced; the highest set the peak, ahead of every "
            "interior set with its interval above 0: not reproduced"
        )

    def verdict(self, result: dict) -> str:
        if result.get("peak", -1) < 0:
            return INCONCLUSIVE
        last = int(result["scored"][-1])
        if result["peak"] == last:
            low, _ = result["lead_interval"]
            return decide(False, bool(np.isfinite(low) and low > 0))
        low, high = result["drop_interval"]
        if not (np.isfinite(low) and np.isfinite(high)):
            return INCONCLUSIVE
        return decide(low > 0, high < 0)


@dataclass(frozen=True)
class MostBins:
    """ "For most of the bins": a change of the claimed sign, resolved, in a majority of the bins.

    Each bin has a 95% interval for its change. Reproduced: more than half of the bins have their
    interval on the claimed side of 0 and none on the other side. Not reproduced: at least half of
    the bins have their interval on the other side, so that no majority can change the claimed way.
    Otherwise (too many bins whose interval holds 0): inconclusive.
    """

    sign: int = 1

    def __str__(self) -> str:
        side, other = ("above", "below") if self.sign > 0 else ("below", "above")
        return (
            f"more than half of the bins with their 95% interval {side} 0 and none {other}: reproduced; "
            f"at least half {other} 0: not reproduced"
        )

    def counts(self, lows, highs) -> tuple[int, int, int]:
        """(bins resolved the claimed way, bins resolved the other way, bins with a finite interval)."""
        lows, highs = np.asarray(lows, float), np.asarray(highs, float)
        finite = np.isfinite(lows) & np.isfinite(highs)
        up, down = (lows > 0) & finite, (highs < 0) & finite
        claimed, other = (up, down) if self.sign > 0 else (down, up)
        return int(claimed.sum()), int(other.sum()), int(finite.sum())

    def verdict(self, lows, highs) -> str:
        """``lows``, ``highs``: each bin's 95% interval of its change (NaN for a bin without one)."""
        claimed, other, bins = self.counts(lows, highs)
        if not bins:
            return INCONCLUSIVE
        return decide(claimed > bins / 2 and other == 0, other >= bins / 2)


@dataclass(frozen=True)
class Claim:
    """One claim of a source and how this project tests it."""

    key: str  # short identifier, stable across runs (the regression check compares verdicts by key)
    claim: str  # what the source says, quoted or paraphrased
    source: str  # where: "paper Sec. 3, Fig. 3", "rebuttal Fig. 6", "Li et al. 2024, Fig. 2", ...
    quantity: str  # what this run measures
    criterion: object  # the rule, stated before the numbers: text, or an object (its text and its rule)
    figure: str | None = None  # the public figure it answers (a URL), if any
    kind: str = CLAIM  # a source's claim, a check, or this project's own question (KINDS)
    # the trained models whose numbers the row reads, by the names of the notebook's quality gates
    # (``gated``); () for a row that reads no trained model (an exact score, the data themselves)
    models: tuple[str, ...] = ()
    primary: str | None = None  # a sensitivity row: the key of the primary row it repeats

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        if (self.kind == SENSITIVITY) != (self.primary is not None):
            raise ValueError(
                f"claim {self.key!r}: a sensitivity row names its primary row (primary=...), and only it does"
            )

    def sensitivity(self, key: str, quantity: str, criterion=None, **changes) -> Claim:
        """This claim tested another way, as a sensitivity row beside it (outside the totals)."""
        return replace(
            self,
            key=key,
            quantity=quantity,
            criterion=self.criterion if criterion is None else criterion,
            kind=SENSITIVITY,
            primary=self.key,
            **changes,
        )

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
    gated: bool = False  # the quality gates of the claim's models were applied (``gated``)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")


def _passed(gate) -> bool:
    """A gate object's outcome (``.passed``), a bool as itself; None (a published model, which has no
    gate here) counts as passed."""
    return True if gate is None else bool(getattr(gate, "passed", gate))


def gated(verdicts: Sequence[Verdict], gates) -> list[Verdict]:
    """The rows with the README's rule applied: a row that reads a model that failed its quality gate is
    *inconclusive*, whatever its numbers (kept, with the verdict they would have given). ``gates``:
    ``{model name: gate (with .passed), bool, or None}``; every model a row declares must be in it. The
    ledger renders only rows that went through here (``ledger_markdown``), so no study can skip it."""
    out = []
    for v in verdicts:
        unknown = [name for name in v.claim.models if name not in gates]
        if unknown:
            raise ValueError(
                f"claim {v.claim.key!r} reads {unknown}, whose quality gate the notebook did not give; "
                f"gates given: {sorted(gates)}"
            )
        failed = [name for name in v.claim.models if not _passed(gates[name])]
        if failed:
            reason = f"{', '.join(failed)} {'fails' if len(failed) == 1 else 'fail'} the quality gate"
            v = inconclusive_because([v], reason)[0]
        out.append(Verdict(v.claim, v.value, v.verdict, gated=True))
    return out


def _require_gated(verdicts: Sequence[Verdict]) -> None:
    ungated = [v.claim.key for v in verdicts if not v.gated]
    if ungated:
        raise ValueError(
            f"rows {ungated[:3]} have not been through ledger.gated(verdicts, gates): the quality gates "
            "of the models they read decide whether they can give a verdict"
        )


GATE_FAILED = "the model fails its quality gate"


def inconclusive_because(verdicts: Sequence[Verdict], reason: str = GATE_FAILED) -> list[Verdict]:
    """The rows turned *inconclusive* for a reason that does not look at their results (a model below
    its quality gate, too little memorization to test): each keeps its numbers and says the verdict it
    would have had, "<value>; <reason> (<verdict> otherwise)"."""
    return [Verdict(v.claim, f"{v.value}; {reason} ({v.verdict} otherwise)", INCONCLUSIVE) for v in verdicts]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ledger_markdown(verdicts: Sequence[Verdict]) -> str:
    """The ledger as a Markdown table (claim, source, quantity, criterion, this run, verdict); only rows
    that went through ``gated``."""
    _require_gated(verdicts)
    lines = [
        "| claim | source | quantity | criterion | this run | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        c = v.claim
        source = f"[{c.source}]({c.figure})" if c.figure else c.source
        claim = c.claim if c.kind == CLAIM else f"*{c.kind}:* {c.claim}"
        if c.kind == SENSITIVITY:
            claim = f"*{c.kind} ({c.primary}):* {c.claim}"
        lines.append(
            "| "
            + " | ".join(
                _cell(x) for x in (claim, source, c.quantity, str(c.criterion), v.value, f"**{v.verdict}**")
            )
            + " |"
        )
    return "\n".join(lines)


def show_ledger(verdicts: Sequence[Verdict]):
    """The ledger for a notebook cell: rendered Markdown in Jupyter, on GitHub and in the companion site;
    it also fills the notebook's "Key results" box with the same rows."""
    from IPython.display import Markdown

    from .key_results import update_key_results

    table = Markdown(ledger_markdown(verdicts))  # checks the rows went through ``gated``
    update_key_results(verdicts)  # the box the notebook opens with (``key_results.key_results_box``)
    return table


def ledger_summary(verdicts: Sequence[Verdict]) -> dict[str, str]:
    """``{claim key: verdict}``, for the notebook's regression-checked summary; only rows that went
    through ``gated``."""
    _require_gated(verdicts)
    return {v.claim.key: v.verdict for v in verdicts}
