"""Web throughput: each role's main pages under gunicorn, as the README runs it in production.

    .venv/bin/python bench/web.py            # the cost benchmark's org, 16 clients, 10 s a page
    .venv/bin/python bench/web.py --small    # CI: a small org, 2 s a page

Creates ``portal_webbench`` (``--db``) on the server of ``DATABASE_URL``, seeds it with
bench/costs.py's generator (5,000 users, 50 departments, 20,000 keys, a year of daily rows and
their monthly rollups) plus what the list pages show (a developer's keys and tuning projects,
requests waiting for a lead), collects static files and starts
``gunicorn portal.wsgi --workers 3`` with ``DEBUG=0`` on PostgreSQL and Redis (``REDIS_URL``).
Signed-in sessions are made the way sign-in makes them. Then, for each page, ``--clients``
concurrent keep-alive connections request it for ``--seconds`` with wrk (Debian package ``wrk``;
bench/web.lua counts answers other than 200, and every answer must be 200). wrk is written in C:
on a 2-core machine it leaves the cores to gunicorn, where a Python client would compete.
Requests carry ``X-Forwarded-Proto: https``, as from the TLS proxy in front of the portal.

It prints requests per second and p50/p95 latency per page against the targets (list pages
≥ 200 req/s and p95 ≤ 100 ms; dashboards ≥ 100 req/s), stops gunicorn and drops the database.
``--app-dir`` runs another checkout's code (before/after comparisons).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the portal's apps come before bench/ (which has a costs.py)

from benchdb import create_database, drop_database, server_url, setup_django, with_db  # noqa: E402

LIST_TARGET = (200.0, 100.0)  # req/s at least, p95 ms at most
DASHBOARD_TARGET = (100.0, None)
FERNET_KEY = "v3bYF3Qm1m7l0mHc4S2nX8bYz5Ww1bN0m8rP8k3d2aE="


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--departments", type=int, default=50)
    p.add_argument("--models", type=int, default=30)
    p.add_argument("--keys", type=int, default=20000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0, help="measured per page")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (README: 3)")
    p.add_argument("--small", action="store_true", help="CI size: a small org, 2 s a page")
    p.add_argument("--db", default="portal_webbench")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument(
        "--reuse", action="store_true", help="use the database a --keep run left (no seeding)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--app-dir", default=str(ROOT), help="the checkout gunicorn runs")
    args = p.parse_args()
    if args.small:
        args.users, args.departments, args.models, args.keys, args.days = 300, 8, 12, 1200, 60
        args.seconds = min(args.seconds, 2.0)
    return args


# --- seeding ----------------------------------------------------------------------------------


def seed(args) -> dict:
    """The cost benchmark's org and spend, plus what the list pages show; sessions per role."""
    from django.db import connection

    from approvals.lifecycle import Status
    from costs.ingest import refresh_all
    from keys.models import VirtualKey
    from portal.days import utc_today
    from projects.models import TuningProject

    bench_costs = cost_benchmark()
    rng = random.Random(args.seed)
    org = bench_costs.seed_org(args, rng)
    today = utc_today()
    start = today - datetime.timedelta(days=args.days - 1)
    rows = bench_costs.daily_rows(args, rng, org, start, args.days)
    bench_costs.copy_daily(bench_costs.org_maps(org), rows, connection)
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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return plan()


def plan() -> dict:
    """Who asks for which page: found in the seeded database (so --reuse can skip seeding)."""
    from keys.models import VirtualKey
    from portal.days import utc_today
    from tenants.models import Membership, User

    mine = VirtualKey.objects.select_related("requester", "department").get(name="dev-key-0")
    developer, dept = mine.requester, mine.department
    lead = Membership.objects.get(department=dept, role="lead").user
    people = Membership.objects.filter(department=dept).count()
    month = utc_today().strftime("%Y-%m")
    return {
        "sessions": {
            "developer": session_for(developer),
            "lead": session_for(lead),
            "infra": session_for(User.objects.get(username="infra@bench.example")),
        },
        "pages": [
            ("developer", "home", "/", "list"),
            ("developer", "my keys", "/keys/", "list"),
            ("developer", "my projects", "/projects/", "list"),
            ("developer", "my costs", f"/costs/me/?month={month}", "dashboard"),
            ("lead", "approvals", "/approvals/", "list"),
            ("lead", "department dashboard", f"/costs/departments/{dept.slug}/", "dashboard"),
            ("infra", "approvals", "/approvals/", "list"),
            ("infra", "org dashboard", f"/costs/org/?month={month}", "dashboard"),
        ],
        "sizes": (people, dept.slug),
    }


def cost_benchmark():
    """bench/costs.py, whose seeding this benchmark shares (its name clashes with the app's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_costs", ROOT / "bench" / "costs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


# --- the server -------------------------------------------------------------------------------


def server_env(args, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PROMETHEUS_")) and k != "PYTHONPATH"
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=os.environ["SECRET_KEY"],  # the one the sessions were signed with
        SECRETS_FERNET_KEY=FERNET_KEY,
        DATABASE_URL=database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    return env


def start_gunicorn(
    args, env: dict[str, str], port: int, log: Path, access: Path
) -> subprocess.Popen:
    app = Path(args.app_dir)
    python = Path(sys.executable)
    subprocess.run(
        [str(python), "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=app,
        env=env,
        check=True,
    )
    proc = subprocess.Popen(  # noqa: S603
        [str(python.parent / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--access-logfile", str(access)],
        cwd=app, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(proc)
    raise SystemExit(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}")


def _stat(pid) -> list[str] | None:
    """/proc/<pid>/stat's fields after the name: state, ppid, pgrp, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the processes in one process group, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def db_cpu_seconds(url: str, db: str) -> dict[int, float]:
    """CPU time of each PostgreSQL backend serving ``db`` (gunicorn's connections), when the
    server runs on this machine (none otherwise)."""
    from benchdb import admin_connect

    with admin_connect(url) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [db],
        ).fetchall()
    stats = {pid: _stat(pid) for (pid,) in pids}
    tick = os.sysconf("SC_CLK_TCK")
    return {pid: (int(f[11]) + int(f[12])) / tick for pid, f in stats.items() if f}


def db_cpu_since(url: str, db: str, before: dict[int, float]) -> float:
    """CPU the backends used since ``before`` (a backend that ended meanwhile is not counted:
    connections live CONN_MAX_AGE seconds, so a few may be missed)."""
    return sum(cpu - before.get(pid, 0) for pid, cpu in db_cpu_seconds(url, db).items())


def drained(access: Path) -> int:
    """Requests gunicorn has handled (its access log's lines), once it has finished those
    still queued: wrk stops with requests in flight, which the workers serve all the same."""
    lines = -1
    while True:
        now = access.read_bytes().count(b"\n") if access.exists() else 0
        if now == lines:
            return now
        lines = now
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# --- load -------------------------------------------------------------------------------------


def wrk_run(url: str, headers: dict[str, str], clients: int, seconds: float) -> dict:
    """One wrk run: ``clients`` keep-alive connections on two threads for ``seconds``."""
    cmd = ["wrk", "--threads", str(min(2, clients)), "--connections", str(clients),
           "--duration", f"{max(1, round(seconds))}s", "--timeout", "30s",
           "--script", str(ROOT / "bench" / "web.lua")]  # fmt: skip
    for name, value in headers.items():
        cmd += ["--header", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}


def load(base: str, path: str, session: str, clients: int, seconds: float, access: Path) -> dict:
    """``clients`` keep-alive connections (wrk) asking for ``path`` for ``seconds``, after a
    warm-up and once gunicorn has served what the warm-up left queued; every answer must be
    200."""
    import httpx

    headers = {
        "Cookie": f"sessionid={session}",
        "X-Forwarded-Proto": "https",
        "Accept-Language": "en",
    }
    first = httpx.get(base + path, headers=headers, timeout=60)  # it must be the page
    if first.status_code != 200:
        raise SystemExit(f"{path} → {first.status_code}: {first.text[:500]}")
    warm = wrk_run(base + path, headers, clients, min(1.0, seconds / 4))
    drained(access)
    m = wrk_run(base + path, headers, clients, seconds)
    bad = {}
    for run in (warm, m):
        if run["bad"]:
            bad[run["bad_status"]] = bad.get(run["bad_status"], 0) + run["bad"]
        if run["socket_errors"]:
            bad["socket"] = bad.get("socket", 0) + run["socket_errors"]
    return {
        "requests": m["requests"],
        "rps": m["requests"] / (m["duration_us"] / 1e6),
        "p50": m["p50_us"] / 1000,
        "p95": m["p95_us"] / 1000,
        "bad": bad,
        "bytes": len(first.content),
    }


def report(args, pages, figures, sizes) -> bool:
    print()
    print(
        f"gunicorn --workers {args.workers}, DEBUG=0, {args.clients} clients, "
        f"{args.seconds:.0f} s a page; department {sizes[1]} ({sizes[0]} members)"
    )
    print(
        f"{'role':10} {'page':22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>7} "
        f"{'DB ms':>6} "
        f"{'target':>20}"
    )
    all_ok = True
    for (role, label, _path, kind), m in zip(pages, figures, strict=True):
        rps_min, p95_max = LIST_TARGET if kind == "list" else DASHBOARD_TARGET
        target = f"≥ {rps_min:.0f}/s" + (f", p95 ≤ {p95_max:.0f}" if p95_max else "")
        good = m["rps"] >= rps_min and (p95_max is None or m["p95"] <= p95_max) and not m["bad"]
        all_ok &= good
        verdict = "(small)" if args.small else ("ok" if good else "MISSED")
        errors = f" errors {m['bad']}" if m["bad"] else ""
        print(
            f"{role:10} {label:22} {m['rps']:8.1f} {m['p50']:8.1f} {m['p95']:8.1f} "
            f"{m['cpu_ms']:7.1f} {m['db_ms']:6.1f} {target:>20} {verdict}{errors}"
        )
    print(
        "CPU ms: gunicorn's CPU time per request; DB ms: PostgreSQL's (its backends for "
        "gunicorn).\nWith the machine to itself, "
        f"{os.cpu_count()} cores serve at most {os.cpu_count()} × 1000 / (CPU ms + DB ms) "
        "requests a second."
    )
    return all_ok


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/web.py needs wrk (Debian package wrk): run scripts/test-services.sh")
    url = server_url()
    print(
        f"bench/web.py: users={args.users} departments={args.departments} keys={args.keys} "
        f"days={args.days} → database {args.db}"
    )
    if not args.reuse:
        create_database(url, args.db)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)  # sessions and server share it
    proc = None
    try:
        t = time.perf_counter()
        setup_django(url, args.db, "")
        if args.reuse:
            pages = plan()
        else:
            pages = seed(args)
            print(f"  seeded in {time.perf_counter() - t:.1f} s")
        from django.db import connections

        connections.close_all()
        from tests.litellm_proxy import free_port

        port = free_port()
        log = Path(f"/tmp/bench-web-gunicorn-{port}.log")  # noqa: S108
        access = log.with_suffix(".access.log")
        env = server_env(args, with_db(url, args.db))
        proc = start_gunicorn(args, env, port, log, access)
        figures = []
        for role, label, path, _kind in pages["pages"]:
            cpu, handled = group_cpu_seconds(proc.pid), drained(access)
            db_cpu = db_cpu_seconds(url, args.db)
            m = load(
                f"http://127.0.0.1:{port}",
                path,
                pages["sessions"][role],
                args.clients,
                args.seconds,
                access,
            )
            # gunicorn's own CPU per request it handled (warm-up included, and the requests
            # of connections wrk closed when its time was up): what the page costs the
            # server, whatever else the machine is doing.
            handled = drained(access) - handled
            m["cpu_ms"] = (group_cpu_seconds(proc.pid) - cpu) * 1000 / max(1, handled)
            m["db_ms"] = db_cpu_since(url, args.db, db_cpu) * 1000 / max(1, handled)
            print(f"  {role:10} {label:22} {m['rps']:7.1f} req/s  p95 {m['p95']:6.1f} ms")
            figures.append(m)
    finally:
        if proc is not None:
            stop(proc)
        from django.db import connections

        connections.close_all()
        if not (args.keep or args.reuse):
            drop_database(url, args.db)
    ok = report(args, pages["pages"], figures, pages["sizes"])
    if any(m["bad"] for m in figures):
        sys.exit("some requests did not answer 200")
    if not args.small and not ok:
        print("some targets missed (see above)")


if __name__ == "__main__":
    main()
