"""The approval queue and the SLA figures at an organisation's scale.

    .venv/bin/python bench/approvals.py                # 5,000 people, 50 departments
    .venv/bin/python bench/approvals.py --small        # CI: 300 people, 8 departments

Creates ``portal_bench_approvals`` on the server of ``DATABASE_URL``; seeds departments with a
two-stage policy (leads, then infra above a budget), people, open requests with their stages
and decided stages for the SLA page; then asks fixed questions and prints median times and
ratios:

* a lead's queue (``pending_for().count()``) and infra's, at N open requests and at N/10:
  a ratio near 1 means the queue does not grow with the organisation's backlog;
* one stage vote (``workflow.approve`` under the row lock);
* the SLA page's median/p90 over the decided stages.

Drops the database afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import create_database, drop_database, server_url, setup_django  # noqa: E402


def timed(fn, samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seed(args, open_requests: int, rng):
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from approvals.lifecycle import Status
    from approvals.models import RequestStage
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User
    from tests.approvals_helpers import INFRA_OVER_50, LEADS, make_policy

    if not Department.objects.exists():
        departments = [
            Department.objects.create(name=f"Dept {i}", slug=f"d{i}")
            for i in range(args.departments)
        ]
        users = User.objects.bulk_create(
            User(username=f"u{i}@example.com", email=f"u{i}@example.com", is_infra=i < 5)
            for i in range(args.users)
        )
        Membership.objects.bulk_create(
            Membership(
                user=u,
                department=departments[i % len(departments)],
                role="lead" if i < len(departments) * 3 else "member",
            )  # fmt: skip
            for i, u in enumerate(users)
        )
        for department in departments:
            make_policy(department, LEADS, INFRA_OVER_50)
    departments = list(Department.objects.all())
    members: dict[int, list] = {}
    for m in Membership.objects.filter(role="member").select_related("user"):
        members.setdefault(m.department_id, []).append(m.user)
    have = VirtualKey.objects.filter(status=Status.SUBMITTED).count()
    ct = ContentType.objects.get_for_model(VirtualKey)
    now = timezone.now()
    batch = []
    for i in range(have, open_requests):
        department = departments[i % len(departments)]
        batch.append(
            VirtualKey(
                requester=rng.choice(members[department.pk]),
                department=department,
                name=f"k{i}",
                llm_models=["gpt-4o-mini"],
                max_budget=Decimal(rng.choice([10, 80])),
                rpm_limit=10,
                tpm_limit=1000,
                lifetime_days=30,
                justification="bench",
                status=Status.SUBMITTED if i % 4 else Status.APPROVED,
            )  # fmt: skip
        )
    keys = VirtualKey.objects.bulk_create(batch)
    leads = {}
    for m in Membership.objects.filter(role="lead").select_related("user"):
        leads.setdefault(m.department_id, []).append(m.user)
    stages = []
    for key in keys:
        started = now - datetime.timedelta(hours=rng.randint(1, 400))
        decided = key.status == Status.APPROVED
        stages.append(
            RequestStage(
                content_type=ct,
                object_id=key.pk,
                department_id=key.department_id,
                position=1,
                name="Lead",
                policy_version=1,
                rule={**LEADS, "quorum": "any", "condition": "always"},
                state="approved" if decided else "active",
                started_at=started,
                decided_at=started + datetime.timedelta(hours=rng.randint(1, 72))
                if decided
                else None,
            )  # fmt: skip
        )
    stages = RequestStage.objects.bulk_create(stages)
    Through = RequestStage.approvers.through
    Through.objects.bulk_create(
        Through(requeststage_id=s.pk, user_id=u.pk) for s in stages for u in leads[s.department_id]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--samples", type=int, default=15)
    p.add_argument("--small", action="store_true")
    p.add_argument("--db", default="portal_bench_approvals")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if args.small:
        args.users, args.departments, args.requests, args.samples = 300, 8, 1000, 5
    url = server_url()
    create_database(url, args.db)
    setup_django(url, args.db, "")
    rng = random.Random(42)
    try:
        from approvals import sla, workflow
        from approvals.lifecycle import Status
        from keys.models import VirtualKey
        from tenants.models import User

        results = {}
        for size in (args.requests // 10, args.requests):
            seed(args, size, rng)
            lead = User.objects.filter(memberships__role="lead", is_infra=False).first()
            infra = User.objects.filter(is_infra=True).first()
            print(f"  waiting for the lead: {VirtualKey.objects.pending_for(lead).count()}")
            results[size] = (
                timed(lambda u=lead: VirtualKey.objects.pending_for(u).count(), args.samples),
                timed(lambda u=infra: VirtualKey.objects.pending_for(u).count(), args.samples),
            )
            print(f"{size:>7} requests: lead queue {results[size][0] * 1000:.1f} ms, "
                  f"infra queue {results[size][1] * 1000:.1f} ms")  # fmt: skip
        small, large = results[args.requests // 10], results[args.requests]
        print(f"queue ratio (x10 backlog): lead {large[0] / small[0]:.2f}, "
              f"infra {large[1] / small[1]:.2f}")  # fmt: skip
        pending = list(VirtualKey.objects.pending_for(lead)[: args.samples])
        votes = []
        for key in pending:
            start = time.perf_counter()
            workflow.approve(key, actor=lead)
            votes.append(time.perf_counter() - start)
        assert all(k.status in (Status.APPROVED, Status.SUBMITTED) for k in pending)
        print(f"one stage vote: median {statistics.median(votes) * 1000:.1f} ms")
        sla_time = timed(sla.time_in_stage, max(3, args.samples // 3))
        print(f"SLA page figures over the decided stages: {sla_time * 1000:.0f} ms")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(url, args.db)


if __name__ == "__main__":
    main()
