"""``manage.py`` run as production runs it: a fresh process, settings from the environment."""

from __future__ import annotations

import subprocess
import sys

from .servers import REPO_ROOT

PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
    "DEBUG": "0",
    "SECRET_KEY": "prod-" + "k3y-" * 16,
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}


def manage(*args: str, env: dict[str, str] | None = None, **extra: str):
    """``manage.py ARGS`` with ``env`` (default: PRODUCTION_ENV) and ``extra`` on top."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**(PRODUCTION_ENV if env is None else env), **extra},
        capture_output=True,
        text=True,
        check=False,
    )
