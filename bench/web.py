"""Web throughput: each role's main pages under gunicorn, as the README runs it in production,
in three profiles.

    .venv/bin/python bench/web.py --check          # full size: the cost benchmark's org, 16 clients
    .venv/bin/python bench/web.py --small --check  # CI: a small org, 8 clients, 3 s a page
    .venv/bin/python bench/web.py --profile cold   # one profile (warm, mixed, cold; default all)

Creates ``portal_webbench`` (``--db``) on the server of ``DATABASE_URL``, seeds it with
bench/costs_data.py's generator (5,000 users, 50 departments, 20,000 keys, a year of daily rows and
their monthly rollups) plus what the list pages show (a developer's keys and tuning projects,
requests waiting for a lead), collects static files and starts
``gunicorn portal.wsgi --workers 3`` with ``DEBUG=0`` on PostgreSQL and Redis (``REDIS_URL``).
Signed-in sessions are made the way sign-in makes them. Each page is read by ``--people``
people of its role in turn (developers and leads of different departments; five infra
people): ``--clients`` concurrent keep-alive connections ask for it for ``--seconds`` with wrk
(Debian package ``wrk``; bench/web.lua sends each request as the next person and counts
answers other than 200, and every answer must be 200). wrk is written in C: on a 2-core
machine it leaves the cores to gunicorn, where a Python client would compete. Requests carry
``X-Forwarded-Proto: https``, as from the TLS proxy in front of the portal.

Profiles, the same pages in each:

- *warm*: the pages as people see them between changes (every cache on, nothing written);
- *mixed*: the same while bench/web_writer.py writes what an organisation writes, each second
  about ``--write-rate`` new requests, decisions and spend ingestion batches, spread over
  departments in proportion to their people;
- *cold*: gunicorn restarted with every page and list cache off
  (``NAV_CACHE_SECONDS=0 COSTS_PAGE_CACHE_SECONDS=0``): each page rendered afresh.

Targets (bench/verdict.py prints each figure with its target and ok/MISSED; ``--check`` exits 1
on a miss at full size): warm, list pages ≥ 200 req/s and p95 ≤ 100 ms, dashboards ≥ 100 req/s;
cold, list pages ≥ 150 req/s, dashboards ≥ 80 req/s; mixed, every page ≥ 80 % of its warm
req/s. Stops gunicorn and drops the database (``--keep`` keeps it; ``--reuse`` runs on it
again without seeding). ``--app-dir`` runs another checkout's code (before/after comparisons).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the portal's apps come before bench/ (which has a costs.py)

from benchdb import create_database, drop_database, server_url, setup_django, with_db  # noqa: E402
from web_report import report  # noqa: E402
from web_seed import plan, seed  # noqa: E402
from web_server import (  # noqa: E402
    db_cpu_seconds,
    db_cpu_since,
    drained,
    group_cpu_seconds,
    load,
    server_env,
    start_gunicorn,
    stop,
)

PROFILES = ("warm", "mixed", "cold")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0, help="measured per page and profile")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (README: 3)")
    p.add_argument("--people", type=int, default=40, help="people of each role reading a page")
    p.add_argument("--profile", default=",".join(PROFILES), help="warm,mixed,cold (any of)")
    p.add_argument(
        "--write-rate", type=float, default=1.0,
        help="mixed: new requests, decisions and spend batches a second (each)",
    )  # fmt: skip
    p.add_argument(
        "--scale", type=int, default=1,
        help="the organisation N times over (users, departments, keys; --scale 20: 100,000 "
        "people, 1,000 departments, 400,000 keys)",
    )  # fmt: skip
    p.add_argument(
        "--small", action="store_true", help="CI size: a small org, 8 clients, 3 s a page"
    )
    p.add_argument(
        "--check", action="store_true", help="exit 1 if a target is missed (full size only)"
    )
    p.add_argument("--db", default="portal_webbench")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument(
        "--reuse", action="store_true", help="use the database a --keep run left (no seeding)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--app-dir", default=str(ROOT), help="the checkout gunicorn runs")
    args = p.parse_args()
    args.users, args.departments, args.keys = (
        args.users * args.scale,
        args.departments * args.scale,
        args.keys * args.scale,
    )
    args.profiles = [x for x in PROFILES if x in args.profile.split(",")]
    if "mixed" in args.profiles and "warm" not in args.profiles:
        p.error("the mixed profile is compared with the warm one: --profile warm,mixed")
    if args.small:
        args.users, args.departments, args.models, args.keys, args.days = 300, 8, 12, 1200, 60
        args.seconds = min(args.seconds, 3.0)
        args.clients = min(args.clients, 8)
        args.people = min(args.people, 6)
    return args


# --- profiles ---------------------------------------------------------------------------------


def measure_pages(args, url, port, proc, access, pages, profile) -> list[dict]:
    figures = []
    for role, label, _kind, visits in pages:
        cpu, handled = group_cpu_seconds(proc.pid), drained(access)
        db_cpu = db_cpu_seconds(url, args.db)
        m = load(f"http://127.0.0.1:{port}", visits, args.clients, args.seconds, access)
        # gunicorn's own CPU per request it handled (warm-up included, and the requests of
        # connections wrk closed when its time was up): what the page costs the server,
        # whatever else the machine is doing.
        handled = drained(access) - handled
        m["cpu_ms"] = (group_cpu_seconds(proc.pid) - cpu) * 1000 / max(1, handled)
        m["db_ms"] = db_cpu_since(url, args.db, db_cpu) * 1000 / max(1, handled)
        print(f"  {profile:5} {role:10} {label:22} {m['rps']:7.1f} req/s  p95 {m['p95']:6.1f} ms")
        figures.append(m)
    return figures


def start_writer(args, env: dict[str, str], queue: str) -> subprocess.Popen:
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "web_writer.py"), str(args.write_rate), queue],
        cwd=args.app_dir, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the writer did not start (see its output above)")
    return proc


def stop_writer(proc: subprocess.Popen, seconds: float, queue: str) -> dict:
    stop(proc)
    out = proc.stdout.read().strip().splitlines()
    if proc.returncode != 0 or not out:
        raise SystemExit(f"the writer ended with {proc.returncode}: {out[-5:]}")
    done = json.loads(out[-1])
    done["seconds"] = seconds
    import redis

    redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")).delete(queue)
    return done


def run_profiles(args, url: str, pages: list) -> tuple[dict, dict | None]:
    from django.db import connections

    from tests.litellm_proxy import free_port

    connections.close_all()
    figures: dict[str, list[dict]] = {}
    writes = None
    for caches in (True, False):
        wanted = [p for p in args.profiles if (p != "cold") == caches]
        if not wanted:
            continue
        port = free_port()
        log = Path(f"/tmp/bench-web-gunicorn-{port}.log")  # noqa: S108
        access = log.with_suffix(".access.log")
        env = server_env(args, with_db(url, args.db), caches=caches)
        proc = start_gunicorn(args, env, port, log, access)
        try:
            for profile in wanted:
                writer = None
                if profile == "mixed":
                    queue = f"bench-web-{uuid.uuid4().hex[:8]}"
                    writer, began = start_writer(args, env, queue), time.monotonic()
                try:
                    figures[profile] = measure_pages(args, url, port, proc, access, pages, profile)
                finally:
                    if writer is not None:
                        writes = stop_writer(writer, time.monotonic() - began, queue)
        finally:
            stop(proc)
    return figures, writes


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/web.py needs wrk (Debian package wrk): run scripts/test-services.sh")
    url = server_url()
    print(
        f"bench/web.py ({'small' if args.small else 'full'} size): users={args.users} "
        f"departments={args.departments} keys={args.keys} days={args.days} → database "
        f"{args.db}; profiles {', '.join(args.profiles)}"
    )
    if not args.reuse:
        create_database(url, args.db)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)  # sessions and server share it
    try:
        t = time.perf_counter()
        setup_django(url, args.db, "")
        if args.reuse:
            plan_ = plan(args)
        else:
            plan_ = seed(args)
            print(f"  seeded in {time.perf_counter() - t:.1f} s")
        figures, writes = run_profiles(args, url, plan_["pages"])
    finally:
        from django.db import connections

        connections.close_all()
        if not (args.keep or args.reuse):
            drop_database(url, args.db)
    bad = any(m["bad"] for measured in figures.values() for m in measured)
    verdicts = report(args, plan_["pages"], figures, writes, plan_["sizes"], plan_["people"])
    if bad:
        verdicts.finish(args.check)
        sys.exit("some requests did not answer 200")
    verdicts.exit(args.check)


if __name__ == "__main__":
    main()
