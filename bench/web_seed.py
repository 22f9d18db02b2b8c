"""What bench/web.py measures on: the cost benchmark's organisation and year of spend
(bench/costs_data.py's generator), what the list pages show (a developer's keys and tuning
projects, requests waiting for a lead, an infra team), and who reads which page: each page
read by several people of its role in turn, with sessions made as sign-in makes them."""

from __future__ import annotations

import datetime
import random

import costs_data

PAGES = (  # role, page, kind, path
    ("developer", "home", "list", "/"),
    ("developer", "my keys", "list", "/keys/"),
    ("developer", "my projects", "list", "/projects/"),
    ("developer", "my costs", "dashboard", "/costs/me/?month={month}"),
    ("lead", "approvals", "list", "/approvals/"),
    ("lead", "department dashboard", "dashboard", "/costs/departments/{slug}/"),
    ("infra", "approvals", "list", "/approvals/"),
    ("infra", "org dashboard", "dashboard", "/costs/org/?month={month}"),
)
INFRA_PEOPLE = 5  # infra is a small team: its pages are read by five people in turn


def seed(args) -> dict:
    """The cost benchmark's org and spend, plus what the list pages show; sessions per role."""
    from django.db import connection

    from approvals.lifecycle import Status
    from costs.ingest import refresh_all
    from keys.models import VirtualKey
    from portal.days import utc_today
    from projects.models import TuningProject

    rng = random.Random(args.seed)
    org = costs_data.seed_org(args, rng)
    today = utc_today()
    start = today - datetime.timedelta(days=args.days - 1)
    rows = costs_data.daily_rows(args, rng, org, start, args.days)
    costs_data.copy_daily(costs_data.org_maps(org), rows, connection)
    refresh_all()

    # A median-sized department: its lead decides, one of its members is the developer.
    sizes = sorted(org["members"].items(), key=lambda kv: len(kv[1]))
    d, people = sizes[len(sizes) // 2]
    dept = org["departments"][d]
    lead = org["leads"][d]
    developer = org["users"][next(u for u in people if org["users"][u].pk != lead.pk)]
    dept.allowed_models = ["model-00", "model-01"]
    dept.save(update_fields=["allowed_models"])
    # The developer has a page of keys in every state a list shows; the lead has requests to
    # decide (more than a page); the developer has a few tuning projects.
    statuses = [Status.ACTIVE] * 8 + [Status.SUBMITTED, Status.EXPIRED, Status.REVOKED]
    VirtualKey.objects.bulk_create(
        VirtualKey(
            requester=developer if n < 30 else org["users"][rng.choice(people)],
            department=dept,
            name=f"dev-key-{n}",
            llm_models=["model-00"],
            max_budget=50,
            budget_duration="30d",
            rpm_limit=60,
            tpm_limit=100000,
            lifetime_days=30,
            justification="bench",
            status=statuses[n % len(statuses)] if n < 30 else Status.SUBMITTED,
        )
        for n in range(70)
    )
    TuningProject.objects.bulk_create(
        TuningProject(
            requester=developer,
            department=dept,
            name=f"tuning-{n}",
            purpose="bench",
            retention_days=30,
            lifetime_days=14,
            justification="bench",
            status=Status.ACTIVE if n % 2 else Status.SUBMITTED,
        )
        for n in range(8)
    )
    from tenants.models import User

    User.objects.bulk_create(  # infra is a team: its pages are read by several people
        User(username=f"infra{n}@bench.example", email=f"infra{n}@bench.example",
             entra_oid=f"oid-infra-{n}", is_infra=True, display_name=f"Infra {n}")
        for n in range(1, INFRA_PEOPLE)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return plan(args)


def plan(args) -> dict:
    """Who asks for which page, found in the seeded database (so --reuse can skip seeding):
    each page is read by ``--people`` people of its role in turn (their caches are theirs),
    developers and leads from departments spread the way the organisation's people are."""
    from approvals.lifecycle import Status
    from keys.models import VirtualKey
    from portal.days import utc_today
    from tenants.models import Membership, User

    mine = VirtualKey.objects.select_related("requester", "department").get(name="dev-key-0")
    developer, dept = mine.requester, mine.department
    lead = Membership.objects.get(department=dept, role="lead").user
    people = Membership.objects.filter(department=dept).count()
    month = utc_today().strftime("%Y-%m")
    leads = [(lead, dept.slug)] + [
        (m.user, m.department.slug)
        for m in Membership.objects.filter(role="lead")
        .exclude(department=dept)
        .select_related("user", "department")
        .order_by("department__slug")[: args.people - 1]
    ]
    developers = [developer] + list(
        User.objects.filter(
            pk__in=VirtualKey.objects.filter(status=Status.ACTIVE).values("requester")
        )
        .exclude(pk__in=[developer.pk, *(u.pk for u, _ in leads)])
        .order_by("pk")[: args.people - 1]
    )
    infra = list(
        User.objects.filter(is_infra=True).order_by("pk")[: min(args.people, INFRA_PEOPLE)]
    )
    sessions = {u.pk: session_for(u) for u in {*developers, *(u for u, _ in leads), *infra}}

    readers = {"developer": developers, "lead": [u for u, _ in leads], "infra": infra}
    slugs = {u.pk: slug for u, slug in leads}
    return {
        "pages": [
            (
                role,
                label,
                kind,
                [
                    (sessions[u.pk], path.format(month=month, slug=slugs.get(u.pk, "")))
                    for u in readers[role]
                ],
            )
            for role, label, kind, path in PAGES
        ],  # fmt: skip
        "sizes": (people, dept.slug),
        "people": {"developer": len(developers), "lead": len(leads), "infra": len(infra)},
    }


def session_for(user) -> str:
    """A session as ``django.contrib.auth.login`` writes it (Entra ID cannot run here)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key
