"""Cost dashboards and ingestion at volume, on PostgreSQL, in a database of its own.

    .venv/bin/python bench/costs.py --users 5000 --departments 50 --models 30 \
        --keys 20000 --days 365
    .venv/bin/python bench/costs.py --small        # CI: well under a minute

Creates ``portal_bench`` (``--db``) on the server of ``DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432``) as a copy of a cached *dataset database*
(bench/costs_dataset.py, of bench/costs_data.py's generator: built on first use, or when the
generator, the sizes or the migrations change) holding a synthetic year with realistic
sparsity, ending on a fixed day (``SYNTHETIC_END``, so no figure depends on the run date; most
keys idle most days, a few busy; a Zipf mix of models; 5 % of spend on keys the portal did not
make, one LiteLLM team the portal does not know) and its rollups, then measures with Django's
test client:

- the lead dashboard (a median-sized and the largest department) and the infra dashboard on the
  last complete month of the synthetic year, with their figures cached and rendered afresh
  (every request after a change), and both on its last 30 days,
- CSV exports (a department's keys, the org's departments, the 12-month chargeback),
- ingestion through ``costs.ingest.upsert_daily``: a three-day re-read (every row of those
  days again, grown, plus new ones), rows per second including the monthly refresh.

The pages are measured by bench/costs_pages.py, the ingestion by bench/costs_upsert.py. It
prints a table of figures against the targets and drops the database (``--keep`` keeps it).

``--compare-litellm`` also asks the real LiteLLM proxy (``.litellm-venv``, scripts/litellm-proxy)
the same questions on the same daily rows (bench/costs_litellm.py; its database is cached the
same way): ``GET /team/daily/activity`` (master key, every page) is timed for the lead's
department and the whole org on the complete month and the last 30 days, and for the lead's
12 months. LiteLLM answers with raw daily aggregates (JSON); the portal pages also render HTML
and charts.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import drop_database, server_url  # noqa: E402
from costs_dataset import drop_cached, prepare  # noqa: E402
from costs_litellm import LITELLM_PREFIX, compare_litellm, report_litellm  # noqa: E402
from costs_pages import measure_dashboards, use_redis_cache  # noqa: E402
from costs_upsert import measure_upsert  # noqa: E402
from timing import Timer  # noqa: E402
from verdict import Verdicts  # noqa: E402

TARGETS = {"lead": 100.0, "infra": 250.0, "ingest": 20_000.0}
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


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--samples", type=int, default=40, help="requests measured per page")
    p.add_argument(
        "--scale", type=int, default=1,
        help="the organisation N times over (users, departments, keys; --scale 20: 100,000 "
        "people, 1,000 departments, 400,000 keys)",
    )  # fmt: skip
    p.add_argument("--small", action="store_true", help="CI size: 300 users, 8 departments, ...")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if a target is missed (full size only)"
    )
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
        default=60,
        help="seconds per LiteLLM question, after which sampling stops (at least one answer)",
    )
    p.add_argument(
        "--fresh-data",
        action="store_true",
        help="rebuild the cached dataset database (normally reused when its parameters match)",
    )
    p.add_argument(
        "--drop-data", action="store_true", help="drop every cached dataset database and stop"
    )
    args = p.parse_args()
    args.users, args.departments, args.keys = (
        args.users * args.scale,
        args.departments * args.scale,
        args.keys * args.scale,
    )
    if args.small:
        args.users, args.departments, args.models, args.keys, args.days = 300, 8, 12, 1200, 120
        args.samples = min(args.samples, 15)
        args.litellm_samples = min(args.litellm_samples, 5)
    return args


def main() -> None:
    args = parse_args()
    url = server_url()
    if args.drop_data:
        dropped = drop_cached(url) + drop_cached(url, LITELLM_PREFIX)
        print("dropped: " + (", ".join(dropped) or "nothing"))
        return
    timer = Timer()
    started = time.perf_counter()
    print(f"bench/costs.py: {size_label(args)} → database {args.db}")
    try:
        figures = run(args, url, timer)
    finally:
        from django.conf import settings
        from django.db import connections

        if settings.configured:
            connections.close_all()
        if not args.keep:
            drop_database(url, args.db)
    total = time.perf_counter() - started
    report(args, figures, timer, total).exit(args.check)


def run(args, url: str, timer) -> dict:
    today = SYNTHETIC_END  # the last day of the synthetic data (fixed, see above)
    start = today - datetime.timedelta(days=args.days - 1)
    asked = questions(today)
    figures_periods = {k: (a.isoformat(), b.isoformat()) for k, (a, b) in asked.items()}
    org, seeded = prepare(args, url, start, today, timer)  # sets Django up
    from django.conf import settings
    from django.db import connection

    from costs.models import DailySpend, MonthlySpend

    use_redis_cache(settings)
    # The cache client is made on the first cache call (importing the redis library alone
    # takes ~0.2 s): made here, not inside the first timed ingestion; a worker has it already.
    from django.core.cache import cache

    cache.get("costs-bench-warm-up")
    figures = {"daily_rows": seeded, "periods": figures_periods}

    figures.update(measure_upsert(args, org, today, timer))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    figures["daily_rows_total"] = DailySpend.objects.count()
    figures["monthly_rows"] = MonthlySpend.objects.count()
    figures.update(measure_dashboards(args, org, asked, timer))
    if args.compare_litellm:  # the same questions, for the median department's lead
        dept = next(d for d in org["departments"] if d.slug == figures["lead_dept"][0])
        figures["litellm"] = compare_litellm(args, dept, asked, timer)
    return figures


def report(args, f: dict, timer: Timer, total: float) -> Verdicts:
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
    print(f"{'page':48} {'p50 ms':>9} {'p95 ms':>9} {'kB':>7} {'n':>4}")
    rows = [
        (f"lead dashboard ({f['lead_dept'][0]}, {f['lead_dept'][1]} members)", "lead", "lead"),
        (
            f"lead dashboard, largest ({f['lead_big_dept'][0]}, {f['lead_big_dept'][1]} members)",
            "lead_big",
            "lead",
        ),
        ("lead dashboard, not cached (after a change)", "lead_cold", "lead"),
        ("lead dashboard, largest, not cached", "lead_big_cold", "lead"),
        ("lead, last 30 days (median department)", "lead_30d", "lead"),
        ("lead, last 30 days, not cached", "lead_30d_cold", "lead"),
        ("infra dashboard (org-wide)", "infra", "infra"),
        ("infra dashboard, not cached (after a change)", "infra_cold", "infra"),
        ("infra, last 30 days (org-wide)", "infra_30d", "infra"),
        ("infra, last 30 days, not cached", "infra_30d_cold", "infra"),
        ("CSV: largest department's keys", "csv_dept_keys", None),
        ("CSV: org departments", "csv_org_departments", None),
        ("CSV: chargeback, 12 months", "csv_chargeback", None),
    ]
    verdicts = Verdicts(full=not args.small, size=size_label(args))
    for label, key, target in rows:
        m = f[key]
        print(
            f"{label:48} {m['p50']:9.1f} {m['p95']:9.1f} {m['bytes'] / 1e3:7.0f} {m['samples']:4}"
        )
        verdicts.add(f"{label}, p95", m["p95"], TARGETS[target] if target else None)
    for label, key in (
        ("upsert alone: new rows (incl. monthly refresh)", "ingest_insert_rate"),
        ("upsert alone: re-read, every row grown", "ingest_update_rate"),
        ("upsert alone: typical re-read (today grew)", "ingest_typical_rate"),
    ):
        verdicts.add(label, f[key], TARGETS["ingest"], higher=True, unit="rows/s")
    verdicts.add(
        "  same as re-read, bulk_create + rebuild", f["ingest_bulk_create_rate"], unit="rows/s"
    )
    print(
        f"({f['ingest_rows']:,} rows per ingestion batch: a three-day re-read; the typical run "
        f"wrote {f['ingest_typical_changed']:,} of them)"
    )
    if "litellm" in f:
        report_litellm(f, verdicts)
    print()
    print("phases: " + "; ".join(f"{label} {sec:.1f} s" for label, sec in timer.phases))
    print(f"total {total:.1f} s")
    return verdicts


def size_label(args) -> str:
    return (
        f"users={args.users} departments={args.departments} models={args.models} "
        f"keys={args.keys} days={args.days}"
    )


if __name__ == "__main__":
    main()
