"""A real Celery worker process for integration tests, on the test database and Redis."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from .servers import SubprocessServer


class Worker(SubprocessServer):
    """``celery -A portal worker`` in a subprocess, with its own queue so tests never share one."""

    name = "celery worker"

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.queue = f"portal-test-{uuid.uuid4().hex[:8]}"
        self.extra_env = extra_env or {}
        log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        super().__init__(log, startup_timeout=60)

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

    poll_interval = 0.2

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "portal", "worker",
            "--pool", "solo", "--concurrency", "1", "--queues", self.queue,
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def readiness(self) -> str | None:
        return None if "ready." in self.output() else ""

    def failure_log(self) -> str:
        return self.output()[-3000:]

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        redis.Redis.from_url(settings.REDIS_URL).delete(self.queue)
