"""bench/web.py's mixed profile: an organisation's writes while its pages are read.

    python bench/web_writer.py RATE QUEUE      # in gunicorn's environment (bench/web.py starts it)

Each second, about RATE new requests, RATE decisions and RATE spend ingestion batches, spread
evenly over the second and over departments in proportion to their people (a department of 300
people writes 30 times as often as one of 10). A new request is a key requested by one of the
department's people (``workflow.submit``); a decision is its lead's on the department's oldest
waiting request (approve and reject in turn: an approval's provisioning task goes to QUEUE, a
queue of this run's own that no worker reads); a batch is the department's latest day of spend
read again, every row grown (``upsert_daily``, with its rollups). Runs until SIGTERM, then
prints one line of JSON: how many of each it did and their median time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def departments():
    from django.db.models import Count

    from tenants.models import Department

    depts = list(Department.objects.annotate(people=Count("memberships")).filter(people__gt=0))
    return depts, [d.people for d in depts]


def new_request(dept, rng, n: int) -> None:
    from approvals import workflow
    from keys.models import VirtualKey
    from tenants.models import Membership

    people = list(Membership.objects.filter(department=dept).values_list("user", flat=True))
    workflow.submit(
        VirtualKey(
            requester_id=rng.choice(people),
            department=dept,
            name=f"mixed-{n}",
            llm_models=(dept.allowed_models or ["model-00"])[:1],
            max_budget=Decimal(20),
            budget_duration="30d",
            rpm_limit=60,
            tpm_limit=100000,
            lifetime_days=30,
            justification="bench: mixed profile",
        )  # fmt: skip
    )


def decision(dept, n: int) -> bool:
    from approvals import workflow
    from approvals.lifecycle import Status
    from keys.models import VirtualKey
    from tenants.models import Membership

    lead = Membership.objects.filter(department=dept, role="lead").select_related("user").first()
    if lead is None:
        return False
    key = (
        VirtualKey.objects.filter(department=dept, status=Status.SUBMITTED)
        .exclude(requester=lead.user)
        .order_by("created_at", "pk")
        .first()
    )
    if key is None:
        return False
    if n % 2:
        workflow.approve(key, actor=lead.user)
    else:
        workflow.reject(key, actor=lead.user, comment="bench: mixed profile")
    return True


def spend_batch(dept) -> bool:
    from django.db.models import Max

    from costs.ingest import SpendRow, upsert_daily
    from costs.models import DailySpend

    rows = DailySpend.objects.filter(team_id=dept.litellm_team_id)
    day = rows.aggregate(d=Max("day"))["d"]
    if day is None:
        return False
    batch = [
        SpendRow(
            day=r.day,
            team_id=r.team_id,
            user_id=r.litellm_user_id,
            key_hash=r.key_hash,
            model=r.model,
            provider=r.provider,
            spend=r.spend + Decimal("0.01"),
            prompt_tokens=r.prompt_tokens + 10,
            completion_tokens=r.completion_tokens + 10,
            requests=r.requests + 1,
            successes=r.successes + 1,
            failures=r.failures,
            key_alias=r.key_alias,
        )  # fmt: skip
        for r in rows.filter(day=day)
    ]
    upsert_daily(batch)
    return True


def main() -> None:
    rate, queue = float(sys.argv[1]), sys.argv[2]
    import django

    django.setup()
    from portal.celery import app

    app.conf.task_default_queue = queue
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    rng = random.Random(7)
    depts, weights = departments()
    ops = ("request", "decision", "spend")
    times: dict[str, list[float]] = {op: [] for op in ops}
    skipped = 0
    interval = 1 / (len(ops) * rate)
    due = time.monotonic()
    n = 0
    print("ready", flush=True)
    while not stopping:
        op = ops[n % len(ops)]
        dept = rng.choices(depts, weights=weights)[0]
        began = time.perf_counter()
        if op == "request":
            new_request(dept, rng, n)
            done = True
        elif op == "decision":
            done = decision(dept, n // len(ops))
        else:
            done = spend_batch(dept)
        if done:
            times[op].append((time.perf_counter() - began) * 1000)
        else:
            skipped += 1
        n += 1
        due += interval  # pacing: the writes are spread over each second
        time.sleep(max(0.0, due - time.monotonic()))
    print(
        json.dumps(
            {
                "counts": {op: len(t) for op, t in times.items()},
                "median_ms": {op: statistics.median(t) if t else 0 for op, t in times.items()},
                "skipped": skipped,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
