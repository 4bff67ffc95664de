"""The timing rule the benchmarks share: one warm-up call, then the best of ``repeats`` calls."""

from __future__ import annotations

import time


def best(fn, repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn`` after one warm-up call (compilation, caches)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
