"""A database of its own for each benchmark, on the PostgreSQL server of DATABASE_URL."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit, urlunsplit

# Before any portal module is imported: ``portal/__init__`` loads Celery, which would settle
# on portal.settings (no test secrets) if it were first.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")
    if not url.startswith("postgres"):
        sys.exit("the benchmarks need PostgreSQL (DATABASE_URL=postgres://...)")
    return url


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def litellm_database_url(url: str) -> str:
    """A fresh database name for a benchmark's own LiteLLM proxy, on the same server."""
    import uuid

    parts = urlsplit(url)
    name = f"/litellm_bench_{uuid.uuid4().hex[:8]}"
    return urlunsplit(("postgresql", parts.netloc, name, "", ""))


def admin_connect(url: str):
    import psycopg

    return psycopg.connect(
        with_db(url, "postgres").replace("postgres://", "postgresql://", 1), autocommit=True
    )


def create_database(url: str, name: str) -> None:
    if name in {"portal", "test_portal", "postgres"}:
        sys.exit(f"refusing to use database {name!r}")
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str, name: str) -> None:
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str, name: str, urlconf: str, *, migrate: bool = True) -> None:
    os.environ["DATABASE_URL"] = with_db(url, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.conf import settings

    django.setup()
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    settings.DEBUG = False
    if urlconf:
        settings.ROOT_URLCONF = urlconf
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
