"""The approval queue page at an organisation's scale, for every kind of approver.

    .venv/bin/python bench/approvals.py --check          # full size: 2,000 then 20,000 open
    .venv/bin/python bench/approvals.py --small --check  # CI: 100 then 1,000 (informational)

Creates ``portal_bench_approvals`` (``--db``) on the server of ``DATABASE_URL``; seeds
departments (three leads each), people, infra people who lead nothing and belong nowhere, line
managers, the members of an Entra approver group, one named approver and one delegate (standing
in for a median department's lead), then open key requests whose current stage is of every
approver kind in turn (the department's leads, the requester's manager, the group, the named
person, infra; with their approvers listed on the stage as the engine lists them) or that have
no stage (the department's leads and infra decide them), and decided stages for the SLA page.
The rows of what waits for whom are rebuilt after each bulk seeding (``approvals.waiting``), as
the requests' own saves keep them in the portal. At N/10 and at N open requests
(``--requests``) it asks for the queue PAGE, ``GET /approvals/`` through Django's test client
(the whole request: middleware, the queue's queries, the template), as:

- the busiest of each kind: the largest department's lead, the busiest manager, a member of
  the approver group, the named person, the delegate, an infra person who leads nothing;

each with every cache dropped before each request (the page as rendered after a change:
the ids of what waits, the rendered rows) and, for information, cached. It prints p50/p95 and
the growth from N/10 to N (p50 at N ÷ p50 at N/10), then one stage vote and the SLA figures.

Targets (bench/verdict.py; ``--check`` exits 1 on a miss at full size): the uncached page
p95 ≤ 100 ms at N for every approver kind, and growth < 2×. Drops the database unless
``--keep``.
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
from timing import summary  # noqa: E402
from verdict import Verdicts  # noqa: E402

TARGET_P95_MS = 100.0
TARGET_GROWTH = 2.0
GROUP = "grp-bench-approvers"
KINDS = ("leads", "manager", "group", "person", "infra", "no stage")
APPROVERS = (
    "lead", "manager", "group approver", "named person", "delegate", "infra (leads nothing)"
)  # fmt: skip


def seed_people(args):
    from approvals.models import Delegation
    from tenants.models import Department, Membership, User
    from tests.approvals_helpers import LEADS, make_policy

    departments = [
        Department.objects.create(name=f"Dept {i}", slug=f"d{i}") for i in range(args.departments)
    ]
    users = User.objects.bulk_create(
        User(
            username=f"u{i}@example.com",
            email=f"u{i}@example.com",
            entra_groups=[GROUP] if i % 250 == 7 else [],  # the group: 1 in 250 people
        )
        for i in range(args.users)
    )
    Membership.objects.bulk_create(
        Membership(
            user=u,
            department=departments[i % len(departments)],
            role="lead" if i < len(departments) * 3 else "member",
        )
        for i, u in enumerate(users)
    )
    User.objects.bulk_create(
        User(username=f"infra{i}@example.com", email=f"infra{i}@example.com", is_infra=True)
        for i in range(5)
    )
    for department in departments:
        make_policy(department, LEADS)
    # The largest department's first lead is away: the last-but-one member decides for them.
    today = datetime.date.today()
    Delegation.objects.create(
        delegator=lead_of(departments[0]), delegate=users[-2],
        starts_on=today - datetime.timedelta(days=1), ends_on=today + datetime.timedelta(days=7),
    )  # fmt: skip


def lead_of(department):
    from tenants.models import Membership

    return Membership.objects.filter(department=department, role="lead").order_by("pk")[0].user


def skewed(items: list) -> list[float]:
    """Weights for ``items`` as an organisation spreads its work: the k-th gets 1/k of the
    first's (a few departments and managers ask for much, most for little)."""
    return [1 / (k + 1) for k in range(len(items))]


def seed_requests(args, open_requests: int, rng) -> None:
    """Open requests up to ``open_requests`` (and a quarter as many decided), each with one
    stage of the next approver kind, spread over departments and managers unevenly."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from approvals import waiting
    from approvals.lifecycle import Status
    from approvals.models import RequestStage
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User

    departments = list(Department.objects.order_by("pk"))
    members, leads = {}, {}
    for m in Membership.objects.select_related("user"):
        (leads if m.role == "lead" else members).setdefault(m.department_id, []).append(m.user)
    managers = [u for people in members.values() for u in people[:2]]  # two per department
    group = list(User.objects.filter(entra_groups__contains=[GROUP]))
    person = named_person()
    infra = list(User.objects.filter(is_infra=True))
    have = VirtualKey.objects.filter(status=Status.SUBMITTED).count()
    ct = ContentType.objects.get_for_model(VirtualKey)
    now = timezone.now()
    todo = open_requests - have
    plan = []
    by_department, by_manager = skewed(departments), skewed(managers)
    for i in range(have, open_requests + todo // 4):
        department = rng.choices(departments, by_department)[0]
        decided = i >= open_requests
        kind = KINDS[i % len(KINDS)]
        manager = rng.choices(managers, by_manager)[0]
        requester = rng.choice([u for u in members[department.pk] if u.pk != manager.pk])
        plan.append((department, kind, manager, requester, decided))
    keys = VirtualKey.objects.bulk_create(
        VirtualKey(
            requester=requester,
            department=department,
            name=f"k{n}-{have}",
            approver=manager if kind == "manager" else None,
            llm_models=["gpt-4o-mini"],
            max_budget=Decimal(rng.choice([10, 80])),
            rpm_limit=10,
            tpm_limit=1000,
            lifetime_days=30,
            justification="bench",
            status=Status.APPROVED if decided else Status.SUBMITTED,
        )  # fmt: skip
        for n, (department, kind, manager, requester, decided) in enumerate(plan)
    )
    stages, approvers = [], []
    for key, (department, kind, manager, _requester, decided) in zip(keys, plan, strict=True):
        if kind == "no stage":
            continue  # the department's leads (and infra) decide it alone
        started = now - datetime.timedelta(hours=rng.randint(1, 400))
        rule = {"name": kind, "approver": kind, "quorum": "any", "condition": "always"}
        if kind == "group":
            rule["group_id"] = GROUP
        if kind == "person":
            rule["person_id"] = person.pk
        stages.append(
            RequestStage(
                content_type=ct,
                object_id=key.pk,
                department_id=department.pk,
                position=1,
                name=kind,
                policy_version=1,
                rule=rule,
                state="approved" if decided else "active",
                started_at=started,
                decided_at=started + datetime.timedelta(hours=rng.randint(1, 72))
                if decided
                else None,
            )  # fmt: skip
        )
        approvers.append(
            {
                "leads": leads[department.pk],
                "manager": [manager],
                "group": group,
                "person": [person],
                "infra": infra,
            }[kind]  # fmt: skip
        )
    stages = RequestStage.objects.bulk_create(stages)
    Through = RequestStage.approvers.through
    Through.objects.bulk_create(
        Through(requeststage_id=s.pk, user_id=u.pk)
        for s, people in zip(stages, approvers, strict=True)
        for u in people
    )
    waiting.rebuild()  # bulk_create saved no request, stage or approver one by one


def named_person():
    """The named approver of the "person" stages: the last member (no lead, not in the group)."""
    from tenants.models import User

    return User.objects.filter(is_infra=False).order_by("-pk")[0]


def who() -> dict:
    """One approver of each kind, each the busiest of their kind (whose queue fills a page
    at N/10 already, so the growth to N is the organisation's, not a fuller page): the largest
    department's lead (its second: the first is away), the busiest manager, a group member,
    the named person, the first lead's delegate, an infra person who leads nothing."""
    from django.db.models import Count

    from approvals.lifecycle import Status
    from approvals.models import Delegation
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User

    largest = Department.objects.order_by("pk")[0]
    lead = Membership.objects.filter(department=largest, role="lead").order_by("pk")[1].user
    manager_id = (
        VirtualKey.objects.filter(status=Status.SUBMITTED, approver__isnull=False)
        .values("approver")
        .annotate(n=Count("pk"))
        .order_by("-n", "approver")[0]["approver"]
    )
    group = User.objects.filter(entra_groups__contains=[GROUP]).order_by("pk")[1]
    infra = User.objects.filter(is_infra=True, memberships__isnull=True).first()
    delegate = Delegation.objects.get().delegate
    people = [lead, User.objects.get(pk=manager_id), group, named_person(), delegate, infra]
    return dict(zip(APPROVERS, people, strict=True))


def page(client, samples: int, *, cached: bool) -> dict:
    from django.core.cache import cache

    times, size = [], 0
    for n in range(samples + 2):  # two warm-up requests (connections, templates)
        if not cached:
            cache.clear()  # what waits, the rendered rows: as after a change
        began = time.perf_counter()
        response = client.get("/approvals/")
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise SystemExit(f"/approvals/ → {response.status_code}")
        size = len(response.content)
        if n >= 2:
            times.append(elapsed)
    return {**summary(times, size), "rows": response.content.count(b'name="items"')}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--requests", type=int, default=20000, help="open requests at the large size")
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--small", action="store_true", help="CI size: 300 people, 1,000 requests")
    p.add_argument("--check", action="store_true", help="exit 1 on a miss (full size only)")
    p.add_argument("--db", default="portal_bench_approvals")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    if args.small:
        args.users, args.departments, args.requests, args.samples = 300, 8, 1000, 8
    size = f"users={args.users} departments={args.departments} open requests {args.requests:,}"
    print(f"bench/approvals.py ({'small' if args.small else 'full'} size): {size}")
    url = server_url()
    create_database(url, args.db)
    setup_django(url, args.db, "")
    rng = random.Random(42)
    verdicts = Verdicts(full=not args.small, size=size)
    try:
        from django.db import connection
        from django.test import Client

        seed_people(args)
        results: dict[int, dict] = {}
        for n in (args.requests // 10, args.requests):
            t = time.perf_counter()
            seed_requests(args, n, rng)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"  seeded {n:,} open requests in {time.perf_counter() - t:.1f} s")
            results[n] = {}
            for label, user in who().items():
                client = Client()
                client.force_login(user)
                results[n][label] = (
                    page(client, args.samples, cached=False),
                    page(client, args.samples, cached=True),
                )
                cold, warm = results[n][label]
                print(
                    f"  {n:>7,} open, {label:22} uncached p50 {cold['p50']:6.1f} p95 "
                    f"{cold['p95']:6.1f} ms; cached p50 {warm['p50']:5.1f} ms; "
                    f"{cold['rows']} rows, {cold['bytes'] / 1e3:.0f} kB"
                )
        small, large = results[args.requests // 10], results[args.requests]
        for label in APPROVERS:
            cold, warm = large[label]
            name = f"queue page, {label}, {args.requests:,} open"
            verdicts.add(f"{name}, uncached p50", cold["p50"])
            verdicts.add(f"{name}, uncached p95", cold["p95"], TARGET_P95_MS)
            verdicts.add(f"{name}, cached p95", warm["p95"])
            verdicts.add(
                f"  growth {args.requests // 10:,} → {args.requests:,} (p50)",
                cold["p50"] / small[label][0]["p50"], TARGET_GROWTH, unit="×",
            )  # fmt: skip
        vote_and_sla(args, verdicts)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(url, args.db)
    verdicts.exit(args.check)


def vote_and_sla(args, verdicts: Verdicts) -> None:
    from approvals import sla, workflow
    from keys.models import VirtualKey

    lead = who()["lead"]
    votes = []
    for key in list(VirtualKey.objects.pending_for(lead)[: args.samples]):
        began = time.perf_counter()
        workflow.approve(key, actor=lead)
        votes.append((time.perf_counter() - began) * 1000)
    verdicts.add("one stage vote (workflow.approve), median", statistics.median(votes))
    times = []
    for _ in range(3):
        began = time.perf_counter()
        sla.time_in_stage()
        times.append((time.perf_counter() - began) * 1000)
    verdicts.add("SLA figures over the decided stages, median", statistics.median(times))


if __name__ == "__main__":
    main()
