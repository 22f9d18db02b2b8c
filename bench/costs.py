"""Cost dashboards and ingestion at volume, on PostgreSQL, in a database of its own.

    .venv/bin/python bench/costs.py --users 5000 --departments 50 --models 30 \
        --keys 20000 --days 365
    .venv/bin/python bench/costs.py --small        # CI: well under a minute

Creates ``portal_bench`` (``--db``) on the server of ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432``), migrates it, seeds a synthetic year with realistic
sparsity, ending on a fixed day (``SYNTHETIC_END``, so no figure depends on the run date;
most keys idle most days, a few busy; a Zipf mix of models; 5 % of spend on keys the
portal did not make, one LiteLLM team the portal does not know) with COPY, builds the monthly
rollups, then measures with Django's test client:

- the lead dashboard (a median-sized and the largest department) and the infra dashboard on the
  last complete month of the synthetic year, and both on its last 30 days,
- CSV exports (a department's keys, the org's departments, the 12-month chargeback),
- ingestion through ``costs.ingest.upsert_daily``: a three-day re-read (every row of those
  days again, grown, plus new ones), rows per second including the monthly refresh.

It prints a table of figures against the targets and drops the database (``--keep`` keeps it).

``--compare-litellm`` also asks the real LiteLLM proxy (``.litellm-venv``, scripts/litellm-proxy)
the same questions: a fresh database ``litellm_bench_<random>`` is migrated, the same daily
rows are copied from the portal's table into ``"LiteLLM_DailyTeamSpend"`` (plus one
``"LiteLLM_VerificationToken"`` per key and one ``"LiteLLM_TeamTable"`` row per team, as a proxy
that made them would have), the proxy is started on it (after loading, so nothing is cached),
and ``GET /team/daily/activity`` (master key, every page) is timed for the lead's department
and the whole org on the complete month and the last 30 days, and for the lead's 12 months.
LiteLLM answers with raw daily aggregates (JSON);
the portal pages also render HTML and charts. The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import (  # noqa: E402
    create_database,
    drop_database,
    server_url,
    setup_django,
    with_db,
)

TARGETS = {"lead": 100.0, "infra": 250.0, "ingest": 20_000.0}
RATIO_TARGETS = {"lead": 10.0, "infra": 50.0}  # LiteLLM ÷ portal, p95, on the complete month
# The synthetic data ends on this day, whatever the date of the run: every question is asked
# on fixed dates, so two runs on different days ask the same questions of the same rows.
SYNTHETIC_END = datetime.date(2025, 12, 17)


def questions(end: datetime.date) -> dict[str, tuple[datetime.date, datetime.date]]:
    """The periods asked about: the last complete month, the last 30 days, 12 months."""
    from costs import periods

    month = periods.month_start(end)
    if end != periods.next_month(month) - datetime.timedelta(days=1):
        month = periods.add_months(month, -1)  # the month of ``end`` is not complete
    month_end = periods.next_month(month) - datetime.timedelta(days=1)
    return {
        "month": (month, month_end),
        "30d": (end - datetime.timedelta(days=29), end),
        "12m": (periods.add_months(month, -11), month_end),
    }


PROVIDERS = ["azure", "bedrock", "vertex_ai", "openai"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--samples", type=int, default=40, help="requests measured per page")
    p.add_argument("--small", action="store_true", help="CI size: 300 users, 8 departments, ...")
    p.add_argument("--db", default="portal_bench")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--urlconf", default="", help="another ROOT_URLCONF (development only)")
    p.add_argument(
        "--compare-litellm",
        action="store_true",
        help="also time LiteLLM's own GET /team/daily/activity on the same rows",
    )
    p.add_argument(
        "--litellm-samples", type=int, default=10, help="LiteLLM answers measured per question"
    )
    p.add_argument(
        "--litellm-budget",
        type=float,
        default=180,
        help="seconds per LiteLLM question, after which sampling stops (at least 3 samples)",
    )
    args = p.parse_args()
    if args.small:
        args.users, args.departments, args.models, args.keys, args.days = 300, 8, 12, 1200, 120
        args.samples = min(args.samples, 15)
        args.litellm_samples = min(args.litellm_samples, 5)
    return args


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


# --- seeding --------------------------------------------------------------------------------


def seed_org(args, rng):
    from keys.lifecycle import Status
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User

    # Department sizes vary (a few large, many small): weights ~ 1/rank^0.7.
    weights = [1 / (i + 1) ** 0.7 for i in range(args.departments)]
    depts = Department.objects.bulk_create(
        [
            Department(
                name=f"Department {i:03d}",
                slug=f"dept-{i:03d}",
                cost_centre=f"CC-{1000 + i // 2}",  # two departments share a cost centre
                litellm_team_id=f"team-{i:03d}",
                monthly_budget=Decimal(rng.choice([500, 1000, 2000, 5000, 10000])),
            )
            for i in range(args.departments)
        ]
    )
    users = User.objects.bulk_create(
        [
            User(
                username=f"user{i}@bench.example",
                email=f"user{i}@bench.example",
                display_name=f"User {i:05d}",
                entra_oid=f"oid-{i:05d}",
            )
            for i in range(args.users)
        ]
    )
    infra = User.objects.create(
        username="infra@bench.example",
        email="infra@bench.example",
        entra_oid="oid-infra",
        is_infra=True,
        display_name="Infra",
    )
    user_dept = rng.choices(range(args.departments), weights=weights, k=args.users)
    members: dict[int, list[int]] = {}
    for u, d in enumerate(user_dept):
        members.setdefault(d, []).append(u)
    memberships = []
    leads = {}
    for d in range(args.departments):
        people = members.setdefault(d, [])
        if not people:  # every department has at least one person
            people.append(rng.randrange(args.users))
        for n, u in enumerate(people):
            role = "lead" if n == 0 else "member"
            memberships.append(Membership(user=users[u], department=depts[d], role=role))
            if n == 0:
                leads[d] = users[u]
    Membership.objects.bulk_create(memberships, ignore_conflicts=True)

    key_owner = [rng.randrange(args.users) for _ in range(args.keys)]
    now = datetime.datetime.now(datetime.UTC)
    keys = VirtualKey.objects.bulk_create(
        [
            VirtualKey(
                requester=users[u],
                department=depts[user_dept[u]],
                name=f"key-{k}",
                llm_models=[],
                max_budget=Decimal(rng.choice([20, 50, 100, 200])),
                budget_duration="30d",
                rpm_limit=60,
                tpm_limit=100000,
                lifetime_days=365,
                justification="bench",
                status=Status.ACTIVE,
                litellm_key_id=f"{k:016x}" + "b" * 48,
                activated_at=now,
            )
            for k, u in enumerate(key_owner)
        ],
        batch_size=5000,
    )
    return {
        "departments": depts,
        "users": users,
        "user_dept": user_dept,
        "keys": keys,
        "key_owner": key_owner,
        "members": members,
        "leads": leads,
        "infra": infra,
    }


def daily_rows(args, rng, org, start: datetime.date, days: int, *, bump: float = 1.0):
    """Yield tuples for DailySpend, day by day: (day, team, user, key, model, provider, ...)."""
    models = [f"model-{m:02d}" for m in range(args.models)]
    model_provider = {m: PROVIDERS[i % len(PROVIDERS)] for i, m in enumerate(models)}
    model_weights = [1 / (i + 1) ** 1.1 for i in range(args.models)]
    price = {m: 0.2 + 3.0 * rng.random() for m in models}  # USD per 1k tokens, roughly
    # Per key: how often it is used and which models; busy keys are rare.
    local = random.Random(args.seed + 1)
    profile = []
    for _ in range(args.keys):
        activity = min(0.9, local.paretovariate(1.6) * 0.08)
        n_models = local.choice([1, 1, 1, 2, 2, 3])
        used = local.choices(models, weights=model_weights, k=n_models)
        profile.append((activity, sorted(set(used))))
    depts = org["departments"]
    user_dept = org["user_dept"]
    n_foreign = max(1, args.keys // 20)  # keys the portal did not make
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        weekend = day.weekday() >= 5
        for k, (activity, used) in enumerate(profile):
            p = activity * (0.3 if weekend else 1.0)
            if rng.random() >= p:
                continue
            owner = org["key_owner"][k]
            team = depts[user_dept[owner]].litellm_team_id
            for model in used:
                prompt = int(rng.expovariate(1 / 20000) * bump) + 50
                completion = int(prompt * rng.uniform(0.1, 0.6))
                requests = max(1, (prompt + completion) // 1500)
                failures = 1 if rng.random() < 0.03 else 0
                spend = round((prompt + completion) / 1000 * price[model] / 100, 8)
                yield (
                    day,
                    team,
                    f"oid-{owner:05d}",
                    f"{k:016x}" + "b" * 48,
                    model,
                    model_provider[model],
                    spend,
                    prompt,
                    completion,
                    requests,
                    requests - failures,
                    failures,
                )
        for f in range(n_foreign):
            if rng.random() < 0.05:
                d = rng.randrange(len(depts))
                model = rng.choice(models)
                yield (
                    day,
                    depts[d].litellm_team_id,
                    "",
                    f"foreign-{f:06d}",
                    model,
                    model_provider[model],
                    round(rng.random() * 2, 8),
                    1000,
                    300,
                    2,
                    2,
                    0,
                )
        if rng.random() < 0.5:  # a LiteLLM team the portal does not know
            yield (
                day,
                "team-unknown",
                "",
                "foreign-unknown",
                models[0],
                model_provider[models[0]],
                round(rng.random() * 5, 8),
                5000,
                900,
                3,
                3,
                0,
            )


def copy_daily(org_ids, rows, connection) -> int:
    """COPY rows into DailySpend with the foreign keys resolved in Python (bench seed only)."""
    from costs.models import DailySpend

    dept_by_team, user_by_oid, key_by_hash = org_ids
    cols = (
        "day",
        "team_id",
        "litellm_user_id",
        "key_hash",
        "model",
        "provider",
        "spend",
        "prompt_tokens",
        "completion_tokens",
        "requests",
        "successes",
        "failures",
        "key_alias",
        "department_id",
        "user_id",
        "key_id",
        "updated_at",
    )
    now = datetime.datetime.now(datetime.UTC)
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        table = DailySpend._meta.db_table
        with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    (
                        *r,
                        "",
                        dept_by_team.get(r[1]),
                        user_by_oid.get(r[2]),
                        key_by_hash.get(r[3]),
                        now,
                    )
                )
                n += 1
    return n


def org_maps(org):
    dept_by_team = {d.litellm_team_id: d.pk for d in org["departments"]}
    user_by_oid = {u.entra_oid: u.pk for u in org["users"]}
    key_by_hash = {k.litellm_key_id: k.pk for k in org["keys"]}
    return dept_by_team, user_by_oid, key_by_hash


# --- measuring ------------------------------------------------------------------------------


def measure(client, url: str, samples: int, *, stream: bool = False) -> dict:
    return timed(lambda: fetch(client, url, stream), samples)


def timed(call, samples: int, warmup: int = 3, budget: float = 0) -> dict:
    """p50/p95/max in ms of ``call()`` (which returns the bytes it read), after ``warmup``.

    With ``budget`` (seconds), stops early once that is spent and three samples are taken.
    """
    for _ in range(warmup):
        call()
    times = []
    size = 0
    began = time.perf_counter()
    for _ in range(samples):
        t = time.perf_counter()
        size = call()
        times.append((time.perf_counter() - t) * 1000)
        if budget and len(times) >= 3 and time.perf_counter() - began > budget:
            break
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
        "max": times[-1],
        "samples": len(times),
        "bytes": size,
    }


def fetch(client, url: str, stream: bool) -> int:
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} → {response.status_code}")
    if stream or getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def main() -> None:
    args = parse_args()
    url = server_url()
    rng = random.Random(args.seed)
    timer = Timer()
    started = time.perf_counter()
    size = (
        f"users={args.users} departments={args.departments} models={args.models} "
        f"keys={args.keys} days={args.days}"
    )
    print(f"bench/costs.py: {size} → database {args.db}")
    create_database(url, args.db)
    try:
        with timer("create and migrate database"):
            setup_django(url, args.db, args.urlconf)
        figures = run(args, rng, timer)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, args.db)
    total = time.perf_counter() - started
    report(args, figures, timer, total)


def run(args, rng, timer) -> dict:
    from django.db import connection
    from django.test import Client

    from costs.ingest import SpendRow, refresh_all, upsert_daily
    from costs.models import DailySpend, MonthlySpend

    today = SYNTHETIC_END  # the last day of the synthetic data (fixed, see above)
    start = today - datetime.timedelta(days=args.days - 1)
    asked = questions(today)
    figures_periods = {k: (a.isoformat(), b.isoformat()) for k, (a, b) in asked.items()}
    with timer("seed departments, users, memberships, keys"):
        org = seed_org(args, rng)
    maps = org_maps(org)
    # The last three days are left out of the seed: ingestion brings them in below.
    with timer("COPY daily rollup rows"):
        seeded = copy_daily(maps, daily_rows(args, rng, org, start, args.days - 3), connection)
    with timer("build monthly rollups"):
        refresh_all()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    figures = {"daily_rows": seeded, "periods": figures_periods}

    # Ingestion: three days read from "LiteLLM", then re-read with every row grown and a few
    # more (late rows), as the beat task does.
    fresh = [
        SpendRow(*r[:6], Decimal(str(r[6])), *r[7:12])
        for r in daily_rows(args, rng, org, today - datetime.timedelta(days=2), 3)
    ]
    with timer(f"ingest {len(fresh)} new rows"):
        t = time.perf_counter()
        upsert_daily(fresh)
        first = time.perf_counter() - t
    grown = [
        SpendRow(
            **{
                **r.__dict__,
                "spend": r.spend * Decimal("1.1") + Decimal("0.01"),
                "requests": r.requests + 1,
            }
        )
        for r in fresh
    ]
    with timer(f"re-ingest {len(grown)} rows (upsert over existing)"):
        t = time.perf_counter()
        result = upsert_daily(grown)
        second = time.perf_counter() - t
    last_day = max(r.day for r in grown)
    typical = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.03"), "requests": r.requests + 1})
        if r.day == last_day
        else r
        for r in grown
    ]
    with timer(f"re-ingest {len(typical)} rows, only today's grown (a typical beat run)"):
        t = time.perf_counter()
        typical_result = upsert_daily(typical)
        fourth = time.perf_counter() - t
    figures["ingest_typical_rate"] = len(typical) / fourth if fourth else 0
    figures["ingest_typical_changed"] = typical_result.changed
    grown2 = [
        SpendRow(**{**r.__dict__, "spend": r.spend + Decimal("0.02"), "requests": r.requests + 2})
        for r in fresh
    ]
    with timer(f"re-ingest {len(grown2)} rows with Django bulk_create (comparison)"):
        t = time.perf_counter()
        upsert_daily(grown2, method="bulk_create")
        third = time.perf_counter() - t
    figures["ingest_bulk_create_rate"] = len(grown2) / third if third else 0
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    figures["ingest_rows"] = result.rows
    figures["ingest_insert_rate"] = len(fresh) / first if first else 0
    figures["ingest_update_rate"] = result.rows / second if second else 0
    figures["daily_rows_total"] = DailySpend.objects.count()
    figures["monthly_rows"] = MonthlySpend.objects.count()

    # Dashboards: a median-sized department's lead, and infra.
    sizes = sorted(org["members"].items(), key=lambda kv: len(kv[1]))
    median_dept = sizes[len(sizes) // 2][0]
    biggest_dept = sizes[-1][0]
    dept = org["departments"][median_dept]
    month = asked["month"][0].strftime("%Y-%m")
    recent = f"?days=30&end={asked['30d'][1].isoformat()}"
    client = Client()
    client.force_login(org["leads"][median_dept])
    with timer("measure lead dashboard"):
        figures["lead"] = measure(
            client, f"/costs/departments/{dept.slug}/?month={month}", args.samples
        )
    big = org["departments"][biggest_dept]
    client_big = Client()
    client_big.force_login(org["leads"][biggest_dept])
    with timer("measure lead dashboard (largest department)"):
        figures["lead_big"] = measure(
            client_big, f"/costs/departments/{big.slug}/?month={month}", args.samples
        )
    with timer("measure lead, last 30 days"):
        figures["lead_30d"] = measure(
            client, f"/costs/departments/{dept.slug}/recent/{recent}", args.samples
        )
    figures["lead_dept"] = (dept.slug, len(org["members"][median_dept]))
    figures["lead_big_dept"] = (big.slug, len(org["members"][biggest_dept]))
    infra = Client()
    infra.force_login(org["infra"])
    with timer("measure infra dashboard"):
        figures["infra"] = measure(infra, f"/costs/org/?month={month}", args.samples)
    with timer("measure infra, last 30 days"):
        figures["infra_30d"] = measure(infra, f"/costs/org/recent/{recent}", args.samples)
    with timer("measure CSV exports"):
        figures["csv_dept_keys"] = measure(
            client_big,
            f"/costs/departments/{big.slug}/keys.csv?month={month}",
            max(5, args.samples // 4),
            stream=True,
        )
        figures["csv_org_departments"] = measure(
            infra,
            f"/costs/org/departments.csv?month={month}",
            max(5, args.samples // 4),
            stream=True,
        )
        first_month = asked["12m"][0].strftime("%Y-%m")
        figures["csv_chargeback"] = measure(
            infra,
            f"/costs/chargeback.csv?from={first_month}&to={month}",
            max(5, args.samples // 4),
            stream=True,
        )
    if args.compare_litellm:
        figures["litellm"] = compare_litellm(args, dept, asked, timer)
    return figures


# --- LiteLLM's own endpoint on the same rows -------------------------------------------------

LITELLM_COPY = {
    # LiteLLM table and columns ← SELECT over the portal's tables ({daily}, {keys}, {depts}).
    '"LiteLLM_DailyTeamSpend" (id, team_id, date, api_key, model, model_group, '
    "custom_llm_provider, prompt_tokens, completion_tokens, spend, api_requests, "
    "successful_requests, failed_requests, created_at, updated_at)": (
        "SELECT gen_random_uuid()::text, NULLIF(team_id, ''), to_char(day, 'YYYY-MM-DD'), "
        "key_hash, model, model, provider, prompt_tokens, completion_tokens, spend, requests, "
        "successes, failures, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' FROM {daily}"
    ),
    '"LiteLLM_VerificationToken" (token, key_alias, team_id, user_id)': (
        "SELECT d.key_hash, max(k.name), max(NULLIF(d.team_id, '')), "
        "max(NULLIF(d.litellm_user_id, '')) FROM {daily} d "
        "LEFT JOIN {keys} k ON k.litellm_key_id = d.key_hash GROUP BY d.key_hash"
    ),
    '"LiteLLM_TeamTable" (team_id, team_alias, created_at, updated_at)': (
        "SELECT t.team_id, max(p.name), now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' "
        "FROM (SELECT DISTINCT team_id FROM {daily} WHERE team_id <> '') t "
        "LEFT JOIN {depts} p ON p.litellm_team_id = t.team_id GROUP BY t.team_id"
    ),
}


def copy_to_litellm(connection, litellm_url: str) -> int:
    """Stream the portal's daily rows (and their keys and teams) into LiteLLM's tables."""
    import psycopg

    from costs.models import DailySpend
    from keys.models import VirtualKey
    from tenants.models import Department

    tables = {
        "daily": DailySpend._meta.db_table,
        "keys": VirtualKey._meta.db_table,
        "depts": Department._meta.db_table,
    }
    with connection.cursor() as cursor, psycopg.connect(litellm_url) as target:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        for into, select in LITELLM_COPY.items():
            with (
                raw.copy(f"COPY ({select.format(**tables)}) TO STDOUT") as out,
                target.cursor().copy(f"COPY {into} FROM STDIN") as copy_in,
            ):
                for block in out:
                    copy_in.write(block)
        target.commit()
        target.autocommit = True
        target.execute("ANALYZE")
        return target.execute('SELECT count(*) FROM "LiteLLM_DailyTeamSpend"').fetchone()[0]


def litellm_question(client, params: dict, totals: dict | None = None) -> int:
    """Every page of ``/team/daily/activity`` for ``params``; the bytes read.

    Only the first page is parsed (it says how many there are), unless ``totals`` is given:
    then every page is, and its pages and spend are added up there.
    """
    from costs.litellm_source import ENDPOINT, PAGE_SIZE

    size, pages, page = 0, 1, 1
    while page <= pages:
        response = client.get(ENDPOINT, params={**params, "page": page, "page_size": PAGE_SIZE})
        if response.status_code != 200:
            raise SystemExit(f"LiteLLM {ENDPOINT} → {response.status_code}: {response.text[:300]}")
        size += len(response.content)
        if page == 1 or totals is not None:
            meta = response.json()["metadata"]
            pages = int(meta["total_pages"] or 1)
            if totals is not None:
                totals["pages"] = pages
                totals["spend"] = totals.get("spend", 0.0) + meta["total_spend"]
        page += 1
    return size


# Each LiteLLM question: (figure key, scope, period, portal figure it is compared with).
LITELLM_QUESTIONS = (
    ("lead", "lead", "month", "lead"),
    ("lead_30d", "lead", "30d", "lead_30d"),
    ("lead_12m", "lead", "12m", "lead"),  # the lead's page carries the 12-month trend
    ("infra", "infra", "month", "infra"),
    ("infra_30d", "infra", "30d", "infra_30d"),
)


def compare_litellm(args, dept, asked, timer) -> dict:
    import httpx
    from django.db import connection
    from django.db.models import Sum

    from costs.models import DailySpend
    from tests.litellm_proxy import LITELLM_VENV, LiteLLMProxy

    url = server_url()
    name = f"litellm_bench_{uuid.uuid4().hex[:8]}"
    litellm_url = with_db(url, name).replace("postgres://", "postgresql://", 1)
    proxy = LiteLLMProxy(database_url=litellm_url)
    out = {"db": name}
    create_database(url, name)
    try:
        with timer("LiteLLM: migrate its database, COPY the same daily rows"):
            migrate = ROOT / "scripts" / "litellm-proxy" / "migrate.py"
            subprocess.run(
                [str(LITELLM_VENV / "bin" / "python"), str(migrate), litellm_url],
                check=True,
                capture_output=True,
            )
            out["rows"] = copy_to_litellm(connection, litellm_url)
        with timer("LiteLLM: start proxy"):
            proxy.start()
        headers = {"Authorization": f"Bearer {proxy.master_key}"}
        with httpx.Client(base_url=proxy.base_url, headers=headers, timeout=900) as client:
            for key, scope, period, _portal in LITELLM_QUESTIONS:
                first, last = asked[period]
                params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
                where = {}
                if scope == "lead":
                    params["team_ids"] = dept.litellm_team_id
                    where = {"team_id": dept.litellm_team_id}
                portal = DailySpend.objects.filter(day__gte=first, day__lte=last, **where)
                expected = float(portal.aggregate(s=Sum("spend"))["s"] or 0)
                with timer(f"LiteLLM: measure GET /team/daily/activity, {key} question"):
                    totals = {}
                    litellm_question(client, params, totals)  # warm-up, and the check below
                    out[key] = timed(
                        lambda p=params: litellm_question(client, p),
                        args.litellm_samples,
                        warmup=0,
                        budget=args.litellm_budget,
                    )
                if abs(totals["spend"] - expected) > 0.01 + 1e-6 * expected:
                    print(f"  warning: LiteLLM {key} spend {totals['spend']:.2f} ≠ {expected:.2f}")
                out[key].update(totals, rows=portal.count())
    finally:
        proxy.stop()
        drop_database(url, name)
    return out


def report(args, f: dict, timer: Timer, total: float) -> None:
    def ok(value, target, higher=False):
        if args.small:
            return "(small)"  # targets are for the full size; small runs check it all works
        good = value >= target if higher else value <= target
        return "ok" if good else "MISSED"

    print()
    print(
        f"Figures (daily rows seeded {f['daily_rows']:,}; after ingestion "
        f"{f['daily_rows_total']:,}; monthly rows {f['monthly_rows']:,})"
    )
    per = f["periods"]
    print(
        f"Questions (fixed, whatever the run date): complete month {per['month'][0]} – "
        f"{per['month'][1]}; last 30 days {per['30d'][0]} – {per['30d'][1]}; "
        f"12 months {per['12m'][0]} – {per['12m'][1]}"
    )
    print(f"{'measure':48} {'p50 ms':>9} {'p95 ms':>9} {'target':>10} {'':>7}")
    rows = [
        (
            f"lead dashboard ({f['lead_dept'][0]}, {f['lead_dept'][1]} members)",
            f["lead"],
            TARGETS["lead"],
        ),
        (
            f"lead dashboard, largest ({f['lead_big_dept'][0]}, {f['lead_big_dept'][1]} members)",
            f["lead_big"],
            TARGETS["lead"],
        ),
        ("lead, last 30 days (median department)", f["lead_30d"], TARGETS["lead"]),
        ("infra dashboard (org-wide)", f["infra"], TARGETS["infra"]),
        ("infra, last 30 days (org-wide)", f["infra_30d"], TARGETS["infra"]),
        ("CSV: largest department's keys", f["csv_dept_keys"], None),
        ("CSV: org departments", f["csv_org_departments"], None),
        ("CSV: chargeback, 12 months", f["csv_chargeback"], None),
    ]
    for label, m, target in rows:
        verdict = ok(m["p95"], target) if target else ""
        tgt = f"≤ {target:.0f}" if target else "-"
        print(f"{label:48} {m['p50']:9.1f} {m['p95']:9.1f} {tgt:>10} {verdict:>7}")
    print(
        f"{'ingestion, new rows (rows/s, incl. monthly refresh)':48} "
        f"{f['ingest_insert_rate']:19,.0f} {'≥ 20,000':>10} "
        f"{ok(f['ingest_insert_rate'], TARGETS['ingest'], True):>7}"
    )
    print(
        f"{'ingestion, re-read upsert (rows/s, incl. refresh)':48} "
        f"{f['ingest_update_rate']:19,.0f} {'≥ 20,000':>10} "
        f"{ok(f['ingest_update_rate'], TARGETS['ingest'], True):>7}"
    )
    print(
        f"{'ingestion, typical re-read (rows/s; today grew)':48} "
        f"{f['ingest_typical_rate']:19,.0f} {'≥ 20,000':>10} "
        f"{ok(f['ingest_typical_rate'], TARGETS['ingest'], True):>7}"
    )
    print(
        f"{'  same as re-read, bulk_create + rebuild (rows/s)':48} "
        f"{f['ingest_bulk_create_rate']:19,.0f} {'(info)':>10}"
    )
    print(
        f"({f['ingest_rows']:,} rows per ingestion batch: a three-day re-read; the typical run "
        f"wrote {f['ingest_typical_changed']:,} of them)"
    )
    if "litellm" in f:
        report_litellm(f, ok)
    print()
    print("phases: " + "; ".join(f"{label} {sec:.1f} s" for label, sec in timer.phases))
    print(f"total {total:.1f} s")


def report_litellm(f: dict, ok) -> None:
    from costs.litellm_source import PAGE_SIZE

    lite = f["litellm"]
    per = f["periods"]
    print()
    print(
        f"LiteLLM 1.106.2 GET /team/daily/activity, same rows ({lite['rows']:,} in "
        f'"LiteLLM_DailyTeamSpend"), master key, pages of {PAGE_SIZE} rows:'
    )
    print(f"{'measure':48} {'p50 ms':>9} {'p95 ms':>9} {'pages':>10} {'MB':>7} {'n':>4}")
    labels = {
        "lead": f"lead, {per['month'][0][:7]} ({f['lead_dept'][0]})",
        "lead_30d": "lead, last 30 days",
        "lead_12m": "lead, 12 months (vs the month page's trend)",
        "infra": f"org, {per['month'][0][:7]}",
        "infra_30d": "org, last 30 days",
    }
    for key, scope, _period, portal_key in LITELLM_QUESTIONS:
        m, portal = lite[key], f[portal_key]
        print(
            f"{'LiteLLM, ' + labels[key]:48} {m['p50']:9.1f} {m['p95']:9.1f} {m['pages']:10,} "
            f"{m['bytes'] / 1e6:7.1f} {m['samples']:4}"
        )
        ratio = m["p95"] / portal["p95"]
        target = RATIO_TARGETS[scope] if key == scope else None
        verdict = f"≥ {target:.0f}× {ok(ratio, target, True)}" if target else ""
        print(
            f"{'  ratio LiteLLM / portal (p50, p95)':48} {m['p50'] / portal['p50']:8.1f}× "
            f"{ratio:8.1f}×  {verdict}  (portal {portal['bytes'] / 1e3:.0f} kB; "
            f"{m['rows']:,} daily rows, ${m['spend']:,.2f})"
        )
    print(
        "(LiteLLM returns raw daily aggregates as JSON, per day broken down by model, provider, "
        "key and team;\n the portal pages read rollups and also render HTML and charts.)"
    )


if __name__ == "__main__":
    main()
