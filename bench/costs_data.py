"""The cost benchmark's synthetic organisation and year of spend, generated once and reused.

``prepare(args, ...)`` returns a fresh database for one run, copied (``CREATE DATABASE …
TEMPLATE``, a file copy: seconds) from a cached *dataset database* named after a hash of what
makes the data: the generator's version (``GENERATOR_VERSION``, bump it when ``seed_org`` or
``daily_rows`` change what they make), the sizes, the seed, the synthetic end day and the
portal's migrations. The first run with given parameters builds the dataset database (migrate,
seed, COPY the daily rows, build the rollups, ANALYZE) under a temporary name and renames it
when complete, so an interrupted build is never reused. ``--fresh-data`` rebuilds it;
``--drop-data`` drops every cached dataset database.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import random
import uuid
from decimal import Decimal
from pathlib import Path

from benchdb import admin_connect

ROOT = Path(__file__).resolve().parent.parent
# 2: ingestion rows drawn from their own random stream; 3: indexes built after the COPY
GENERATOR_VERSION = 3
DATASET_PREFIX = "costs_bench_data_"
PROVIDERS = ["azure", "bedrock", "vertex_ai", "openai"]
# --- seeding --------------------------------------------------------------------------------


def seed_org(args, rng):
    from approvals.lifecycle import Status
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User

    # Department sizes vary (a few large, many small): weights ~ 1/rank^0.7.
    weights = [1 / (i + 1) ** 0.7 for i in range(args.departments)]
    depts = Department.objects.bulk_create(
        [
            Department(
                name=f"Department {i:03d}",
                slug=f"dept-{i:03d}",
                cost_centre=f"CC-{1000 + i // 2}",  # two departments share a cost centre
                litellm_team_id=f"team-{i:03d}",
                monthly_budget=Decimal(rng.choice([500, 1000, 2000, 5000, 10000])),
            )
            for i in range(args.departments)
        ]
    )
    users = User.objects.bulk_create(
        [
            User(
                username=f"user{i}@bench.example",
                email=f"user{i}@bench.example",
                display_name=f"User {i:05d}",
                entra_oid=f"oid-{i:05d}",
            )
            for i in range(args.users)
        ]
    )
    infra = User.objects.create(
        username="infra@bench.example",
        email="infra@bench.example",
        entra_oid="oid-infra",
        is_infra=True,
        display_name="Infra",
    )
    user_dept = rng.choices(range(args.departments), weights=weights, k=args.users)
    members: dict[int, list[int]] = {}
    for u, d in enumerate(user_dept):
        members.setdefault(d, []).append(u)
    memberships = []
    leads = {}
    for d in range(args.departments):
        people = members.setdefault(d, [])
        if not people:  # every department has at least one person
            people.append(rng.randrange(args.users))
        for n, u in enumerate(people):
            role = "lead" if n == 0 else "member"
            memberships.append(Membership(user=users[u], department=depts[d], role=role))
            if n == 0:
                leads[d] = users[u]
    Membership.objects.bulk_create(memberships, ignore_conflicts=True)

    key_owner = [rng.randrange(args.users) for _ in range(args.keys)]
    now = datetime.datetime.now(datetime.UTC)
    keys = VirtualKey.objects.bulk_create(
        [
            VirtualKey(
                requester=users[u],
                department=depts[user_dept[u]],
                name=f"key-{k}",
                llm_models=[],
                max_budget=Decimal(rng.choice([20, 50, 100, 200])),
                budget_duration="30d",
                rpm_limit=60,
                tpm_limit=100000,
                lifetime_days=365,
                justification="bench",
                status=Status.ACTIVE,
                litellm_key_id=f"{k:016x}" + "b" * 48,
                activated_at=now,
            )
            for k, u in enumerate(key_owner)
        ],
        batch_size=5000,
    )
    return {
        "departments": depts,
        "users": users,
        "user_dept": user_dept,
        "keys": keys,
        "key_owner": key_owner,
        "members": members,
        "leads": leads,
        "infra": infra,
    }


def daily_rows(args, rng, org, start: datetime.date, days: int, *, bump: float = 1.0):
    """Yield tuples for DailySpend, day by day: (day, team, user, key, model, provider, ...)."""
    models = [f"model-{m:02d}" for m in range(args.models)]
    model_provider = {m: PROVIDERS[i % len(PROVIDERS)] for i, m in enumerate(models)}
    model_weights = [1 / (i + 1) ** 1.1 for i in range(args.models)]
    price = {m: 0.2 + 3.0 * rng.random() for m in models}  # USD per 1k tokens, roughly
    # Per key: how often it is used and which models; busy keys are rare.
    local = random.Random(args.seed + 1)
    profile = []
    for _ in range(args.keys):
        activity = min(0.9, local.paretovariate(1.6) * 0.08)
        n_models = local.choice([1, 1, 1, 2, 2, 3])
        used = local.choices(models, weights=model_weights, k=n_models)
        profile.append((activity, sorted(set(used))))
    depts = org["departments"]
    user_dept = org["user_dept"]
    n_foreign = max(1, args.keys // 20)  # keys the portal did not make
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        weekend = day.weekday() >= 5
        for k, (activity, used) in enumerate(profile):
            p = activity * (0.3 if weekend else 1.0)
            if rng.random() >= p:
                continue
            owner = org["key_owner"][k]
            team = depts[user_dept[owner]].litellm_team_id
            for model in used:
                prompt = int(rng.expovariate(1 / 20000) * bump) + 50
                completion = int(prompt * rng.uniform(0.1, 0.6))
                requests = max(1, (prompt + completion) // 1500)
                failures = 1 if rng.random() < 0.03 else 0
                spend = round((prompt + completion) / 1000 * price[model] / 100, 8)
                yield (
                    day,
                    team,
                    f"oid-{owner:05d}",
                    f"{k:016x}" + "b" * 48,
                    model,
                    model_provider[model],
                    spend,
                    prompt,
                    completion,
                    requests,
                    requests - failures,
                    failures,
                )
        for f in range(n_foreign):
            if rng.random() < 0.05:
                d = rng.randrange(len(depts))
                model = rng.choice(models)
                yield (
                    day,
                    depts[d].litellm_team_id,
                    "",
                    f"foreign-{f:06d}",
                    model,
                    model_provider[model],
                    round(rng.random() * 2, 8),
                    1000,
                    300,
                    2,
                    2,
                    0,
                )
        if rng.random() < 0.5:  # a LiteLLM team the portal does not know
            yield (
                day,
                "team-unknown",
                "",
                "foreign-unknown",
                models[0],
                model_provider[models[0]],
                round(rng.random() * 5, 8),
                5000,
                900,
                3,
                3,
                0,
            )


def copy_daily(org_ids, rows, connection) -> int:
    """COPY rows into DailySpend with the foreign keys resolved in Python (bench seed only)."""
    from costs.models import DailySpend

    dept_by_team, user_by_oid, key_by_hash = org_ids
    cols = (
        "day",
        "team_id",
        "litellm_user_id",
        "key_hash",
        "model",
        "provider",
        "spend",
        "prompt_tokens",
        "completion_tokens",
        "requests",
        "successes",
        "failures",
        "key_alias",
        "department_id",
        "user_id",
        "key_id",
        "updated_at",
    )
    now = datetime.datetime.now(datetime.UTC)
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        table = DailySpend._meta.db_table
        with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    (
                        *r,
                        "",
                        dept_by_team.get(r[1]),
                        user_by_oid.get(r[2]),
                        key_by_hash.get(r[3]),
                        now,
                    )
                )
                n += 1
    return n


def org_maps(org):
    dept_by_team = {d.litellm_team_id: d.pk for d in org["departments"]}
    user_by_oid = {u.entra_oid: u.pk for u in org["users"]}
    key_by_hash = {k.litellm_key_id: k.pk for k in org["keys"]}
    return dept_by_team, user_by_oid, key_by_hash


# --- the cached dataset database --------------------------------------------------------------


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
