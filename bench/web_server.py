"""bench/web.py's server side: gunicorn as in production, its CPU and PostgreSQL's, and wrk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FERNET_KEY = "v3bYF3Qm1m7l0mHc4S2nX8bYz5Ww1bN0m8rP8k3d2aE="


def server_env(args, database_url: str, *, caches: bool = True) -> dict[str, str]:
    """The environment gunicorn (and the writer) run in; ``caches=False``: every page and list
    cache off (the navigation's and the cost dashboards')."""
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
    if not caches:
        env.update(NAV_CACHE_SECONDS="0", COSTS_PAGE_CACHE_SECONDS="0")
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


def wrk_run(url: str, headers: dict[str, str], clients: int, seconds: float, lines: Path) -> dict:
    """One wrk run: ``clients`` keep-alive connections on two threads for ``seconds``, each
    request for the next (session, path) of ``lines`` (bench/web.lua)."""
    cmd = ["wrk", "--threads", str(min(2, clients)), "--connections", str(clients),
           "--duration", f"{max(1, round(seconds))}s", "--timeout", "30s",
           "--script", str(ROOT / "bench" / "web.lua")]  # fmt: skip
    for name, value in headers.items():
        cmd += ["--header", f"{name}: {value}"]
    out = subprocess.run(  # noqa: S603
        [*cmd, url, "--", str(lines)], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}


def load(base: str, visits: list[tuple[str, str]], clients: int, seconds: float,
         access: Path) -> dict:  # fmt: skip
    """``clients`` keep-alive connections (wrk) asking for the pages of ``visits`` (session,
    path: one page for many people) in turn for ``seconds``, after a warm-up and once gunicorn
    has served what the warm-up left queued; every answer must be 200."""
    import httpx

    headers = {"X-Forwarded-Proto": "https", "Accept-Language": "en"}
    size = 0
    for session, path in visits[:3]:  # they must be the pages
        first = httpx.get(
            base + path, headers={**headers, "Cookie": f"sessionid={session}"}, timeout=60
        )
        if first.status_code != 200:
            raise SystemExit(f"{path} → {first.status_code}: {first.text[:500]}")
        size = len(first.content)
    lines = Path(f"/tmp/bench-web-visits-{os.getpid()}.txt")  # noqa: S108
    lines.write_text("".join(f"{session} {path}\n" for session, path in visits))
    url = base + visits[0][1]
    warm = wrk_run(url, headers, clients, min(1.0, seconds / 4), lines)
    before = drained(access)
    m = wrk_run(url, headers, clients, seconds, lines)
    served = drained(access) - before  # with those wrk left in flight when its time was up
    lines.unlink()
    bad = {}
    for run in (warm, m):
        if run["bad"]:
            bad[run["bad_status"]] = bad.get(run["bad_status"], 0) + run["bad"]
        if run["socket_errors"]:
            bad["socket"] = bad.get("socket", 0) + run["socket_errors"]
    return {
        "requests": m["requests"],
        "rps": m["requests"] / (m["duration_us"] / 1e6),
        "served": served / (m["duration_us"] / 1e6),
        "p50": m["p50_us"] / 1000,
        "p95": m["p95_us"] / 1000,
        "bad": bad,
        "bytes": size,
    }
