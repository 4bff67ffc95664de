"""The rounded summary every notebook ends with (what the nbval regression check compares)."""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["print_summary", "rounded"]


def rounded(value, digits: int = 3, zero: float = 1e-6):
    """Round every float in a nested structure to ``digits`` significant digits.

    Magnitudes below ``zero`` print as 0.0: float noise around an exact zero
    (e.g. a sketch with k = n) must not make the regression check flaky.
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
    """Print ``summary`` as indented JSON with floats rounded to ``digits`` significant digits."""
    print(json.dumps(rounded(summary, digits), indent=1))
