"""A database of its own for each benchmark, on the PostgreSQL server of DATABASE_URL."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
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


@contextlib.contextmanager
def portal_with_litellm(name: str) -> Iterator:
    """A fresh portal database ``name`` (Django set up and migrated on it) and a real LiteLLM
    proxy on a fresh database of its own, started, with the portal's settings pointing at it.
    Yields the proxy; both databases are dropped afterwards."""
    url = server_url()
    create_database(url, name)
    setup_django(url, name, "")
    from django.conf import settings

    from tests.litellm_proxy import LiteLLMProxy

    litellm_db = litellm_database_url(url)
    proxy = LiteLLMProxy(database_url=litellm_db)
    try:
        proxy.start()
        print(f"LiteLLM proxy ready in {proxy.start_seconds:.1f} s")
        settings.LITELLM_BASE_URL = proxy.base_url
        settings.LITELLM_MASTER_KEY = proxy.master_key
        yield proxy
    finally:
        proxy.stop()
        drop_database(url, urlsplit(litellm_db).path.lstrip("/"))
        from django.db import connections

        connections.close_all()
        drop_database(url, name)


def department_with_lead():
    """Department ``bench`` (its models: gpt-4o-mini) with a developer and a lead."""
    from tenants.models import Department, Membership, User

    dept = Department.objects.create(
        name="Bench",
        slug="bench",
        cost_centre="CC-B",
        allowed_models=["gpt-4o-mini"],
        monthly_budget=Decimal("1000"),
    )
    dev, lead = (
        User.objects.create(
            username=f"{n}@bench.example", email=f"{n}@bench.example", entra_oid=str(uuid.uuid4())
        )
        for n in ("dev", "lead")
    )
    Membership.objects.create(user=dev, department=dept, role="member")
    Membership.objects.create(user=lead, department=dept, role="lead")
    return dept, dev, lead
