"""The soak with faults (bench/soak.py, issue 26) at its small size: one minute of mixed load
on the real stack while LiteLLM, Redis, a worker, the workers' database connections and beat
fail on the seed's schedule; then every invariant holds and the restore drill's reconcile
lists what changed after the dump. Several minutes on a busy machine (LiteLLM starts twice),
so `make test` leaves it out (``-m "not soak"``) and `.ci/run` runs it as a step of its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .servers import REPO_ROOT

pytestmark = pytest.mark.soak


def test_small_soak_with_faults_holds_every_invariant():
    command = [sys.executable, "bench/soak.py", "--small", "--seed", "1"]
    done = subprocess.run(  # noqa: S603
        [*command, "--db", f"portal_soak_{os.getpid()}"],
        cwd=REPO_ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = done.stdout[-8000:]
    assert done.returncode == 0, f"{report}\n{done.stderr[-3000:]}"
    assert "violations: 0" in report and "converged" in report, report
