"""A real Celery worker process for integration tests, on the test database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


class Worker:
    """``celery -A portal worker`` in a subprocess, with its own queue so tests never share one."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.queue = f"portal-test-{uuid.uuid4().hex[:8]}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])

    def env(self) -> dict[str, str]:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_QUEUE": self.queue,
            # start() waits for the worker's INFO line "ready."; a caller's quieter level
            # (the benchmarks run with WARNING) must not hide it.
            "LOG_LEVEL": "INFO",
            "LITELLM_BASE_URL": settings.LITELLM_BASE_URL,
            "LITELLM_MASTER_KEY": settings.LITELLM_MASTER_KEY,
            "PROVISION_RETRY_BASE_SECONDS": str(settings.PROVISION_RETRY_BASE_SECONDS),
            "PROVISION_MAX_RETRIES": str(settings.PROVISION_MAX_RETRIES),
        }
        env.update(self.extra_env)
        return env

    def start(self) -> Worker:
        cmd = [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "--pool", "solo", "--concurrency", "1", "--queues", self.queue,
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env(), stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in 60 s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, as on an OOM kill or a lost node."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        redis.Redis.from_url(settings.REDIS_URL).delete(self.queue)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
