"""The cost benchmark's cached *dataset database*: the generated organisation and year, built
once and copied for each run.

``prepare(args, ...)`` returns a fresh database for one run, copied (``CREATE DATABASE …
TEMPLATE``, a file copy: seconds) from a cached dataset database named after a hash of what
makes the data: the generator's version (bench/costs_data.py ``GENERATOR_VERSION``), the
sizes, the seed, the synthetic end day and the portal's migrations. The first run with given
parameters builds the dataset database (migrate, seed, COPY the daily rows, build the rollups,
ANALYZE) under a temporary name and renames it when complete, so an interrupted build is never
reused. ``--fresh-data`` rebuilds it; ``--drop-data`` drops every cached dataset database.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import random
import uuid
from pathlib import Path

from benchdb import admin_connect
from costs_data import GENERATOR_VERSION, copy_daily, daily_rows, org_maps, seed_org

ROOT = Path(__file__).resolve().parent.parent
DATASET_PREFIX = "costs_bench_data_"


def dataset_key(args, end: datetime.date) -> str:
    """A hash of everything the generated data depends on."""
    migrations = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/[0-9]*.py")):
        migrations.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    made_of = [
        GENERATOR_VERSION,
        args.users,
        args.departments,
        args.models,
        args.keys,
        args.days,
        args.seed,
        end.isoformat(),
        migrations.hexdigest(),
    ]
    return hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:16]


def cached_databases(url: str, prefix: str = DATASET_PREFIX) -> list[str]:
    with admin_connect(url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"]
        ).fetchall()
    return [name for (name,) in rows]


def drop_cached(url: str, prefix: str = DATASET_PREFIX, *, keep: str = "") -> list[str]:
    dropped = []
    with admin_connect(url) as conn:
        for name in cached_databases(url, prefix):
            if name != keep:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                dropped.append(name)
    return dropped


def copy_database(url: str, template: str, name: str) -> None:
    """``name`` as a copy of ``template`` (which nobody may be connected to)."""
    with admin_connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def publish(url: str, building: str, final: str) -> None:
    """Rename a complete build to its cached name (atomic: a half-built one is never used)."""
    with admin_connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [building],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{final}" WITH (FORCE)')
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{final}"')


def use_database(name: str) -> None:
    """Point Django's default connection at another database on the same server."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name


def seed_dataset(args, start: datetime.date, timer) -> int:
    """Migrate-ready database in use: the organisation, the daily rows, the rollups."""
    from django.db import connection

    from costs.rollups import refresh_all

    rng = random.Random(args.seed)
    with timer("seed departments, users, memberships, keys"):
        org = seed_org(args, rng)
    # The last three days are left out of the seed: the benchmark's ingestion brings them in.
    with timer("COPY daily rollup rows (indexes built after)"), without_indexes("costs_dailyspend"):
        rows = daily_rows(args, rng, org, start, args.days - 3)
        seeded = copy_daily(org_maps(org), rows, connection)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the rollups' GROUP BYs are planned on real counts
    with timer("build monthly rollups"):
        refresh_all()
    save_org(org, seeded)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return seeded


@contextlib.contextmanager
def without_indexes(table: str):
    """Drop ``table``'s secondary indexes and unique constraints, then build them again after
    the block: one sort per index instead of a B-tree insertion per row and index. They are
    built 70 % full, as indexes grown row by row are: packed ones (CREATE INDEX fills leaves to
    90 %) would split a page on nearly every later insert and slow the measured ingestion."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in constraints:
            cursor.execute(
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} WITH (fillfactor = 70)'
            )
        for _name, definition in indexes:
            cursor.execute(f"{definition} WITH (fillfactor = 70)")


def save_org(org: dict, seeded: int) -> None:
    """What a later run needs of the generated organisation, in the dataset database."""
    from django.db import connection

    meta = {
        "user_dept": org["user_dept"],
        "key_owner": org["key_owner"],
        "members": {str(d): people for d, people in org["members"].items()},
        "leads": {str(d): user.pk for d, user in org["leads"].items()},
        "seeded": seeded,
    }
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_org (meta jsonb NOT NULL)")
        cursor.execute("INSERT INTO bench_org (meta) VALUES (%s)", [json.dumps(meta)])


def load_org() -> tuple[dict, int]:
    """The organisation ``seed_org`` made, read back from a copy of the dataset database."""
    from django.db import connection

    from keys.models import VirtualKey
    from tenants.models import Department, User

    with connection.cursor() as cursor:
        cursor.execute("SELECT meta FROM bench_org")
        meta = cursor.fetchone()[0]
    if isinstance(meta, str):
        meta = json.loads(meta)
    leads = {int(d): pk for d, pk in meta["leads"].items()}
    people = User.objects.in_bulk(list(leads.values()))
    org = {
        "departments": list(Department.objects.order_by("slug")),
        "users": list(User.objects.filter(is_infra=False).order_by("entra_oid")),
        "user_dept": meta["user_dept"],
        "key_owner": meta["key_owner"],
        "members": {int(d): p for d, p in meta["members"].items()},
        "leads": {d: people[pk] for d, pk in leads.items()},
        "infra": User.objects.get(username="infra@bench.example"),
        "keys": list(VirtualKey.objects.order_by("litellm_key_id")),
    }
    return org, meta["seeded"]


def prepare(args, url: str, start: datetime.date, end: datetime.date, timer) -> tuple[dict, int]:
    """Django on a fresh copy of the cached dataset database ``args.db`` (built if missing)."""
    from benchdb import create_database, setup_django

    cached = DATASET_PREFIX + dataset_key(args, end)
    args.dataset = cached
    if args.fresh_data or cached not in cached_databases(url):
        building = f"{cached}_building_{uuid.uuid4().hex[:6]}"
        print(f"  building the dataset database {cached} (reused by later runs)")
        create_database(url, building)
        with timer("create and migrate the dataset database"):
            setup_django(url, building, args.urlconf)
        seed_dataset(args, start, timer)
        use_database("postgres")  # nobody connected to the build while it is renamed
        publish(url, building, cached)
    else:
        print(f"  reusing the dataset database {cached}")
        setup_django(url, "postgres", args.urlconf, migrate=False)
    with timer("copy the dataset database"):
        copy_database(url, cached, args.db)
    use_database(args.db)
    return load_org()
