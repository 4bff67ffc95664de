"""The summary every notebook ends with, and how two summaries are compared.

A notebook's last code cell (tagged ``summary``) calls :func:`print_summary`:
the reader sees the numbers its figures show, rounded to three significant
digits; the same numbers at full precision ride along in the output's
metadata (``geomlib/summary``). The regression check
(``tests/golden/test_references.py``) compares those full-precision numbers
with the stored reference's, leaf by leaf (:func:`summary_differences`):
numbers within a stated tolerance, everything else (strings, verdicts,
integers, booleans, missing values, the structure) exactly. Comparing
numbers, not printed text, means that a value sitting on a rounding boundary
cannot fail the check on a machine whose BLAS kernels move its last bits.
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = [
    "RELATIVE_TOLERANCE",
    "ABSOLUTE_TOLERANCE",
    "SUMMARY_KEY",
    "SUMMARY_TAG",
    "plain",
    "print_summary",
    "rounded",
    "printed_summary",
    "summary_differences",
    "summary_of",
]

SUMMARY_TAG = "summary"  # the cell tag of a notebook's closing summary
SUMMARY_KEY = "geomlib/summary"  # the output metadata that holds it at full precision

# The regression check's tolerance: |actual - expected| <= ABSOLUTE + RELATIVE * |expected|. Measured over
# all nine smoke references (2026-12-07, an AMD EPYC machine): OPENBLAS_CORETYPE unset and =Haswell give
# the same bits there (OpenBLAS runs its Haswell kernels on that processor either way); =Sandybridge,
# kernels without fused multiply-add, moves numbers by at most 5.6e-6 relative. The tolerance leaves a
# margin of about 1,000 for processors that pick other kernels still; a change of the code that moves a
# number by more than half a percent fails, and so does any change of a verdict, a count or the structure.
RELATIVE_TOLERANCE = 5e-3
ABSOLUTE_TOLERANCE = 1e-6  # below it, two numbers are both float noise around zero


def plain(value):
    """``value`` with NumPy scalars and arrays as Python numbers and lists, tuples as lists, and non-finite
    floats as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (standard JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    return value


def rounded(value, digits: int = 3, zero: float = 1e-6):
    """Round every float in a nested structure to ``digits`` significant digits.

    Magnitudes below ``zero`` print as 0.0: float noise around an exact zero
    (e.g. a sketch with k = n) reads as the zero it is.
    """
    if isinstance(value, dict):
        return {str(k): rounded(v, digits, zero) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits, zero) for v in value]
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if abs(value) < zero:
            return 0.0
        if not math.isfinite(value):
            return value
        return round(value, digits - 1 - math.floor(math.log10(abs(value))))
    return value


def print_summary(summary: dict, digits: int = 3) -> None:
    """Show ``summary`` as indented JSON with floats rounded to ``digits`` significant digits; in a
    notebook, its full-precision numbers go into the output's metadata for the regression check."""
    text = json.dumps(rounded(summary, digits), indent=1)
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
    except ImportError:  # pragma: no cover - IPython ships with the notebooks extra
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    publish_display_data({"text/plain": text}, metadata={SUMMARY_KEY: plain(summary)})


def summary_of(notebook) -> dict:
    """The full-precision summary an executed notebook (an ``nbformat`` node) stores in its cell tagged
    ``summary``; one sentence when there is none."""
    for output in _summary_cell(notebook).get("outputs", []):
        if SUMMARY_KEY in output.get("metadata", {}):
            return output["metadata"][SUMMARY_KEY]
    raise ValueError(
        "the notebook's summary cell holds no full-precision summary: it did not run, or ran outside a "
        "kernel (rerun it)"
    )


def _summary_cell(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code" and SUMMARY_TAG in cell.metadata.get("tags", []):
            return cell
    raise ValueError(f"the notebook has no code cell tagged {SUMMARY_TAG!r}")


def printed_summary(notebook) -> dict:
    """The summary as the reader sees it in the notebook's cell tagged ``summary`` (rounded); ``{}``
    when the cell shows none."""
    text = ""
    for output in _summary_cell(notebook).get("outputs", []):
        text += output.get("text", "") or output.get("data", {}).get("text/plain", "")
    return json.loads(text[text.index("{") :]) if "{" in text else {}


def _number(value) -> bool:
    return isinstance(value, float)


def summary_differences(
    actual,
    expected,
    *,
    rtol: float = RELATIVE_TOLERANCE,
    atol: float = ABSOLUTE_TOLERANCE,
    path: str = "summary",
) -> list[str]:
    """Every leaf where ``actual`` departs from ``expected`` (both as :func:`plain` makes them), one
    line each: floats beyond ``atol + rtol * |expected|``; anything else (strings, verdicts, integers,
    booleans, None, the keys and lengths) when not equal. Empty when they agree."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key in sorted(set(expected) - set(actual)):
            problems.append(f"{path}.{key}: missing (expected {expected[key]!r})")
        for key in sorted(set(actual) - set(expected)):
            problems.append(f"{path}.{key}: not in the reference (got {actual[key]!r})")
        for key in expected:
            if key in actual:
                problems += summary_differences(
                    actual[key], expected[key], rtol=rtol, atol=atol, path=f"{path}.{key}"
                )
        return problems
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} entries, the reference has {len(expected)}"]
        problems = []
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            problems += summary_differences(a, e, rtol=rtol, atol=atol, path=f"{path}[{i}]")
        return problems
    if _number(expected) and _number(actual):
        if abs(actual - expected) <= atol + rtol * abs(expected):
            return []
        relative = abs(actual - expected) / abs(expected) if expected else math.inf
        return [f"{path}: {actual!r}, the reference {expected!r} (relative difference {relative:.2g})"]
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: {actual!r}, the reference {expected!r}"]
    return []
