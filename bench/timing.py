"""Timing helpers shared by bench/costs.py and bench/costs_litellm.py."""

from __future__ import annotations

import statistics
import time


class Timer:
    def __init__(self):
        self.phases: list[tuple[str, float]] = []

    def __call__(self, label):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t = time.perf_counter()
                print(f"  {label} ...", end="", flush=True)

            def __exit__(self, *exc):
                elapsed = time.perf_counter() - self.t
                timer.phases.append((label, elapsed))
                print(f" {elapsed:.1f} s", flush=True)

        return _Phase()


def timed(
    call, samples: int, warmup: int = 3, budget: float = 0, min_samples: int = 3, first=None
) -> dict:
    """p50/p95/max in ms of ``call()`` (which returns the bytes it read), after ``warmup``.

    With ``budget`` (seconds), stops early once that is spent and ``min_samples`` are taken.
    ``first``, if given, is timed as the first sample instead of ``call``.
    """
    for _ in range(warmup):
        call()
    times = []
    size = 0
    began = time.perf_counter()
    for n in range(samples):
        t = time.perf_counter()
        size = (first if n == 0 and first else call)()
        times.append((time.perf_counter() - t) * 1000)
        if budget and len(times) >= min_samples and time.perf_counter() - began > budget:
            break
    return summary(times, size)


def summary(times: list[float], size: int = 0) -> dict:
    times = sorted(times)
    return {
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
        "max": times[-1],
        "samples": len(times),
        "bytes": size,
    }
