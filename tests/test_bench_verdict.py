"""The benchmarks' shared verdicts: a miss fails ``--check`` at full size only."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from verdict import Verdicts  # noqa: E402


def figures(full: bool) -> Verdicts:
    v = Verdicts(full=full, size="test")
    v.add("page p95", 120, 100)  # a latency above its maximum: missed
    v.add("rows/s", 25000, 20000, higher=True, unit="rows/s")
    v.add("information", 3.5)
    return v


def test_a_miss_at_full_size_fails_the_check(capsys):
    v = figures(full=True)
    assert [f.label for f in v.missed()] == ["page p95"]
    assert v.finish(check=True) == 1
    assert v.finish(check=False) == 0
    out = capsys.readouterr().out
    assert "MISSED" in out and "≤ 100 ms" in out and "≥ 25,000" not in out
    assert "25,000 rows/s" in out and "ok" in out


def test_a_miss_at_small_size_is_printed_and_does_not_fail(capsys):
    v = figures(full=False)
    assert v.finish(check=True) == 0
    out = capsys.readouterr().out
    assert "MISSED (small: informational)" in out and "targets informational" in out
