"""Time from a lead's approval to a live key, with one Celery worker and a real LiteLLM proxy.

    .venv/bin/python bench/provisioning.py --keys 20
    .venv/bin/python bench/provisioning.py --small        # CI: 3 keys

Creates ``portal_bench_provisioning`` on the server of ``DATABASE_URL``, starts the LiteLLM
proxy (scripts/litellm-proxy, its own fresh database) and one worker, then for each key:
a developer's request is approved through the same code path as the approval form
(``approvals.workflow.approve``; the clock starts before it), and the clock stops when the key is
*active* in the portal's database (team, user, membership and key created in LiteLLM, secret
stored encrypted). The first key also creates the department's team and the user in LiteLLM;
later keys find them. Prints median, p95 and max, then drops what it made.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import department_with_lead, portal_with_litellm  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--small", action="store_true", help="CI size: 3 keys")
    parser.add_argument("--db", default="portal_bench_provisioning")
    args = parser.parse_args()
    if args.small:
        args.keys = 3

    with portal_with_litellm(args.db):
        from portal.celery import app as celery_app
        from tests.workers import Worker

        worker = Worker().start()
        try:
            celery_app.conf.task_default_queue = worker.queue
            timings = run(args.keys)
        finally:
            worker.stop()

    print(f"\napproval → active, {len(timings)} keys, one worker (solo pool):")
    print(f"  first key (creates team and user): {timings[0] * 1000:8.0f} ms")
    rest = timings[1:] or timings
    print(f"  median                            : {statistics.median(timings) * 1000:8.0f} ms")
    print(f"  median of later keys              : {statistics.median(rest) * 1000:8.0f} ms")
    p95 = sorted(timings)[max(0, round(0.95 * len(timings)) - 1)]
    print(f"  p95                               : {p95 * 1000:8.0f} ms")
    print(f"  max                               : {max(timings) * 1000:8.0f} ms")


def run(count: int) -> list[float]:
    from approvals import workflow
    from approvals.lifecycle import Status
    from keys.models import VirtualKey

    dept, dev, lead = department_with_lead()
    timings = []
    for i in range(count):
        key = VirtualKey.objects.create(
            requester=dev,
            department=dept,
            name=f"bench-{i}",
            llm_models=["gpt-4o-mini"],
            max_budget=Decimal("5"),
            rpm_limit=10,
            tpm_limit=1000,
            lifetime_days=7,
            justification="benchmark",
        )
        started = time.perf_counter()
        workflow.approve(key, actor=lead)
        while (
            VirtualKey.objects.filter(pk=key.pk).values_list("status", flat=True)[0]
            != Status.ACTIVE
        ):
            if time.perf_counter() - started > 120:
                raise SystemExit(f"key {key.pk} not active after 120 s")
            time.sleep(0.01)
        timings.append(time.perf_counter() - started)
        print(f"  key {i + 1:3d}: {timings[-1] * 1000:7.0f} ms")
    return timings


if __name__ == "__main__":
    main()
