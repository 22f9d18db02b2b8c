"""Every benchmark's figures against their targets: one table, one exit code.

A benchmark says its size (``Verdicts(full=..., size=...)``), adds each figure with its target
(``add``) and ends with ``finish(check)``: it prints, per figure, the measured value, the
target and ``ok`` or ``MISSED``. At full size ``--check`` exits 1 when a figure missed its
target; at a small size (what ``.ci/run`` runs, to keep the benchmarks from rotting) the
targets are printed for information and never fail the run.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass


@dataclass
class Figure:
    label: str
    value: float
    target: float | None  # None: informational, no target
    higher: bool  # the target is a minimum (throughput), else a maximum (latency)
    unit: str

    @property
    def ok(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher else self.value <= self.target


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


class Verdicts:
    def __init__(self, *, full: bool, size: str):
        self.full = full
        self.size = size
        self.figures: list[Figure] = []

    def label(self) -> str:
        how = "targets apply" if self.full else "targets informational"
        return f"size: {self.size} ({'full' if self.full else 'small'}; {how})"

    def add(
        self,
        label: str,
        value: float,
        target: float | None = None,
        *,
        higher: bool = False,
        unit: str = "ms",
    ) -> Figure:
        figure = Figure(label, float(value), target, higher, unit)
        self.figures.append(figure)
        return figure

    def missed(self) -> list[Figure]:
        return [f for f in self.figures if f.ok is False]

    def table(self) -> str:
        width = max([len(f.label) for f in self.figures] + [30])
        lines = [
            self.label(),
            f"{'figure':{width}}  {'measured':>14}  {'target':>14}  verdict",
        ]
        for f in self.figures:
            value = f"{number(f.value)} {f.unit}".strip()
            if f.target is None:
                target, verdict = "-", ""
            else:
                target = f"{'≥' if f.higher else '≤'} {number(f.target)} {f.unit}".strip()
                verdict = "ok" if f.ok else "MISSED"
                if not self.full:
                    verdict += " (small: informational)"
            lines.append(f"{f.label:{width}}  {value:>14}  {target:>14}  {verdict}")
        return "\n".join(lines)

    def finish(self, check: bool) -> int:
        """Print the table; the exit status ``--check`` asks for (0 unless a full-size miss)."""
        print()
        print(self.table())
        print(f"peak RSS: this process {peak_rss_mb():,.0f} MB, its largest child "
              f"{peak_rss_mb(children=True):,.0f} MB")  # fmt: skip
        missed = self.missed()
        if missed and self.full:
            print(f"{len(missed)} target(s) MISSED")
        status = 1 if check and self.full and missed else 0
        if check:
            print(f"--check: {'failed' if status else 'passed'}")
        return status

    def exit(self, check: bool) -> None:
        status = self.finish(check)
        if status:
            sys.exit(status)


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory (Linux reports kilobytes) of this process or of its largest
    waited-for child."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
