"""The soak's processes: a Redis of its own without persistence, Celery workers on one shared
queue, and beat, on the soak's database (see bench/soak.py). Built on the test harness's
``SubprocessServer`` and ``Worker``; only what the soak needs differently is here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from tests.servers import SubprocessServer
from tests.workers import Worker

QUEUE = "soak"
APP_NAME = "soak-worker"  # application_name of the workers' and beat's database connections


class Redis(SubprocessServer):
    """``redis-server`` on its own port, no RDB snapshot and no AOF: a restart loses every
    queued message, as a broker without persistence does."""

    name = "redis"
    poll_interval = 0.1

    def __init__(self, port: int) -> None:
        self.port = port
        log = Path(tempfile.mkstemp(prefix="soak-redis-", suffix=".log")[1])
        super().__init__(log, startup_timeout=30)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def readiness(self) -> str | None:
        try:
            redis.Redis(port=self.port, socket_timeout=1).ping()
            return None
        except redis.RedisError as exc:
            return str(exc)

    def restart(self) -> None:
        """SIGKILL and start again: everything queued is gone."""
        self.kill()
        self.process = None
        self.start()


class _Restartable:
    """Readiness counts the marker lines the process printed since this start, so a process
    started again on the same log is not taken as ready by the earlier start's line."""

    marker = ""

    def start(self):
        self._seen = self.output().count(self.marker)
        return super().start()

    def readiness(self) -> str | None:
        return None if self.output().count(self.marker) > self._seen else ""


def process_env(base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """A worker's environment with the soak's settings; its database connections carry an
    application name, so the soak can cut exactly those (``pg_terminate_backend``)."""
    env = {**base, **extra}
    env["DATABASE_URL"] = f"{base['DATABASE_URL']}?application_name={APP_NAME}"
    env["CELERY_QUEUE"] = QUEUE
    return env


class SoakWorker(_Restartable, Worker):
    """A prefork worker (the README's production command) on the shared soak queue."""

    marker = "ready."

    def __init__(self, index: int, concurrency: int, extra_env: dict[str, str]) -> None:
        super().__init__(extra_env)
        self.queue = QUEUE
        self.index = index
        self.concurrency = concurrency

    def env(self) -> dict[str, str]:
        return process_env(Worker.env(self), self.extra_env)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "--concurrency", str(self.concurrency), "--queues", QUEUE,
            "--hostname", f"soak{self.index}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def stop(self, timeout: float = 15.0) -> None:
        SubprocessServer.stop(self, timeout)  # the queue is shared: it stays

    def busy(self) -> bool:
        """A task received and not yet finished, by its log (the moment to kill it)."""
        log = self.output()
        done = sum(log.count(word) for word in (" succeeded in ", " retry: ", " raised "))
        return log.count("] received") > done


class Beat(_Restartable, SubprocessServer):
    """``celery -A portal beat`` with the database scheduler, as in production."""

    name = "celery beat"
    marker = "beat: Starting"

    def __init__(self, worker_env: dict[str, str]) -> None:
        self.worker_env = worker_env
        log = Path(tempfile.mkstemp(prefix="soak-beat-", suffix=".log")[1])
        super().__init__(log, startup_timeout=60)

    def command(self) -> list[str]:
        schedule = tempfile.mkstemp(prefix="soak-beat-schedule-")[1]
        return [
            sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
            "--pidfile", "", "--schedule", schedule,
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return self.worker_env


def terminate_connections(admin, database: str) -> int:
    """``pg_terminate_backend`` on every connection the workers and beat hold: mid-transaction
    for those in one, as a failover does. Returns how many were cut."""
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND application_name = %s",
        (database, APP_NAME),
    ).fetchall()
    return len(rows)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def pg_dump(database_url: str, path: Path) -> None:
    _run(["pg_dump", "--format=custom", "--file", str(path), "--dbname", database_url])


def pg_restore(database_url: str, path: Path) -> None:
    _run(["pg_restore", "--no-owner", "--dbname", database_url, str(path)])
