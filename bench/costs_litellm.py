"""bench/costs.py --compare-litellm: the same questions asked of LiteLLM's own endpoint.

A database ``litellm_bench_<random>`` is copied from a cached one (``costs_bench_litellm_<key>``,
keyed by the portal dataset, its ingestion rows and the proxy's version) or, the first time,
migrated with the proxy's schema and filled with the portal's daily rows (plus one
``"LiteLLM_VerificationToken"`` per key and one ``"LiteLLM_TeamTable"`` row per team, as a proxy
that made them would have). The proxy starts on it after loading, so nothing is cached.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
from benchdb import create_database, drop_database, server_url, with_db
from costs_dataset import cached_databases
from ingest_e2e import ingest_end_to_end, report_ingest
from timing import timed

ROOT = Path(__file__).resolve().parent.parent
LITELLM_PREFIX = "costs_bench_litellm_"
RATIO_TARGETS = {"lead": 10.0, "infra": 50.0}  # LiteLLM warm ÷ portal uncached, p50 and p95


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


# Each LiteLLM question: (figure key, scope, period, portal figure it is compared with): the
# portal's figures not cached (after a change) where the benchmark measures them.
LITELLM_QUESTIONS = (
    ("lead", "lead", "month", "lead_cold"),
    ("lead_30d", "lead", "30d", "lead_30d_cold"),
    ("lead_12m", "lead", "12m", "lead_cold"),  # no 12-month page: the month page's trend
    ("infra", "infra", "month", "infra_cold"),
    ("infra_30d", "infra", "30d", "infra_30d_cold"),
)


def litellm_database(args, url: str, timer) -> tuple[str, int]:
    """A fresh LiteLLM database holding the portal's daily rows (copied from the cached one)."""
    from costs_dataset import copy_database, drop_cached, publish
    from django.db import connection

    from costs.models import DailySpend
    from tests.litellm_proxy import LITELLM_VENV

    made_of = hashlib.sha256(args.dataset.encode())
    for path in ("install.sh", "migrate.py"):
        made_of.update((ROOT / "scripts" / "litellm-proxy" / path).read_bytes())
    # The portal's rows after the benchmark's ingestion (deterministic) must be the ones cached.
    made_of.update(str(DailySpend.objects.count()).encode())
    cached = LITELLM_PREFIX + made_of.hexdigest()[:16]
    name = f"litellm_bench_{uuid.uuid4().hex[:8]}"
    litellm_url = with_db(url, name).replace("postgres://", "postgresql://", 1)
    if args.fresh_data or cached not in cached_databases(url, LITELLM_PREFIX):
        building = f"{cached}_building_{uuid.uuid4().hex[:6]}"
        build_url = with_db(url, building).replace("postgres://", "postgresql://", 1)
        create_database(url, building)
        with timer("LiteLLM: migrate its database, COPY the same daily rows (cached after)"):
            migrate = ROOT / "scripts" / "litellm-proxy" / "migrate.py"
            subprocess.run(
                [str(LITELLM_VENV / "bin" / "python"), str(migrate), build_url],
                check=True,
                capture_output=True,
            )
            copy_to_litellm(connection, build_url)
        drop_cached(url, LITELLM_PREFIX, keep=building)  # older copies: other data or proxy
        publish(url, building, cached)
    with timer("LiteLLM: copy its database"):
        copy_database(url, cached, name)
    with psycopg.connect(litellm_url) as conn:
        rows = conn.execute('SELECT count(*) FROM "LiteLLM_DailyTeamSpend"').fetchone()[0]
    return name, rows


def compare_litellm(args, dept, asked, timer) -> dict:
    """Each question of ``LITELLM_QUESTIONS`` asked of the real proxy; its answers timed.

    The first answer to each question is parsed page by page to check LiteLLM's total spend
    against the portal's and is also the first sample; more answers are timed while the
    question's ``--litellm-budget`` lasts (at least one: an org question can take minutes).
    """
    import httpx
    from django.db.models import Sum

    from costs.models import DailySpend
    from tests.litellm_proxy import LiteLLMProxy

    url = server_url()
    name, rows = litellm_database(args, url, timer)
    litellm_url = with_db(url, name).replace("postgres://", "postgresql://", 1)
    proxy = LiteLLMProxy(database_url=litellm_url)
    out = {"db": name, "rows": rows}
    try:
        with timer("LiteLLM: start proxy"):
            proxy.start()
        headers = {"Authorization": f"Bearer {proxy.master_key}"}
        with httpx.Client(base_url=proxy.base_url, headers=headers, timeout=1800) as client:
            for key, scope, period, _portal in LITELLM_QUESTIONS:
                first, last = asked[period]
                params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
                where = {}
                if scope == "lead":
                    params["team_ids"] = dept.litellm_team_id
                    where = {"team_id": dept.litellm_team_id}
                portal = DailySpend.objects.filter(day__gte=first, day__lte=last, **where)
                expected = float(portal.aggregate(s=Sum("spend"))["s"] or 0)
                totals = {}
                with timer(f"LiteLLM: measure GET /team/daily/activity, {key} question"):
                    # Cold: the first answer to the question since the proxy started on a fresh
                    # copy of its database; parsed page by page to check its spend. Warm: the
                    # answers after it.
                    began = time.perf_counter()
                    litellm_question(client, params, totals)
                    cold = (time.perf_counter() - began) * 1000
                    out[key] = timed(
                        lambda p=params: litellm_question(client, p),
                        args.litellm_samples,
                        warmup=0,
                        budget=args.litellm_budget,
                        min_samples=1,
                    )
                    out[key]["cold"] = cold
                if abs(totals["spend"] - expected) > 0.01 + 1e-6 * expected:
                    print(f"  warning: LiteLLM {key} spend {totals['spend']:.2f} ≠ {expected:.2f}")
                out[key].update(totals, rows=portal.count())
        with timer("ingestion end to end from the proxy (last 3 days)"):
            out["ingest"] = ingest_end_to_end(proxy, asked["30d"][1], 3)
    finally:
        proxy.stop()
        drop_database(url, name)
    return out


def report_litellm(f: dict, verdicts) -> None:
    """LiteLLM's answers, cold and warm, and the ratios to the portal's page *uncached* (the
    first view after a change: the portal's slowest honest figure), at p50 and p95."""
    from costs.litellm_source import PAGE_SIZE

    lite = f["litellm"]
    per = f["periods"]
    print()
    print(
        f"LiteLLM 1.106.2 GET /team/daily/activity, same rows ({lite['rows']:,} in "
        f'"LiteLLM_DailyTeamSpend"), master key, pages of {PAGE_SIZE} rows:'
    )
    print(
        f"{'question':44} {'cold ms':>9} {'warm p50':>9} {'warm p95':>9} {'pages':>7} "
        f"{'MB':>6} {'n':>3}"
    )
    labels = {
        "lead": f"lead, {per['month'][0][:7]} ({f['lead_dept'][0]})",
        "lead_30d": "lead, last 30 days",
        "lead_12m": f"lead, 12 months {per['12m'][0][:7]} – {per['12m'][1][:7]}",
        "infra": f"org, {per['month'][0][:7]}",
        "infra_30d": "org, last 30 days",
    }
    for key, _scope, _period, portal_key in LITELLM_QUESTIONS:
        m, portal = lite[key], f[portal_key]
        print(
            f"{'LiteLLM, ' + labels[key]:44} {m['cold']:9.1f} {m['p50']:9.1f} {m['p95']:9.1f} "
            f"{m['pages']:7,} {m['bytes'] / 1e6:6.1f} {m['samples']:3}  "
            f"({m['rows']:,} daily rows, ${m['spend']:,.2f}; portal page "
            f"{portal['bytes'] / 1e3:.0f} kB)"
        )
        verdicts.add(f"LiteLLM {labels[key]}, cold", m["cold"])
        verdicts.add(f"LiteLLM {labels[key]}, warm p95", m["p95"])
        target = RATIO_TARGETS.get(key)
        for q in ("p50", "p95"):
            verdicts.add(
                f"  ratio LiteLLM warm / portal uncached ({portal_key}), {q}",
                m[q] / portal[q],
                target,
                higher=True,
                unit="×",
            )
    report_ingest(lite["ingest"], verdicts)
    print(
        "Ratios are against the portal's pages with their figures NOT cached (the first view "
        "after a change);\nLiteLLM's warm answers are its best. The portal has no 12-month "
        "department page: LiteLLM's\n12-month question is compared with the lead's month page, "
        "which carries the department's 12-month trend.\n(LiteLLM returns raw daily aggregates "
        "as JSON, per day broken down by model, provider, key and team;\n the portal pages read "
        "rollups and also render HTML and charts.)"
    )
