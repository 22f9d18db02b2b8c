"""Upsert LiteLLM's daily spend rows and keep the monthly rollups in step.

``upsert_daily(rows)`` is idempotent: the same rows twice leave the same tables. A row that
arrives late (LiteLLM's daily rows keep growing during the day and a few minutes after it)
replaces the earlier value of its natural key. Each row is attributed at ingestion:

- LiteLLM team id → Department (``litellm_team_id``),
- LiteLLM user id → User (``entra_oid``),
- LiteLLM key token hash → VirtualKey (its current ``litellm_key_id`` or, after a rotation,
  one of its earlier tokens: ``KeyToken``).

Anything not found stays on the row as text with an empty foreign key ("unattributed"):
keys made outside the portal stay with their team's department, unknown teams stay visible
to infra. Re-reading a day re-resolves it, so a key or team mapped later is picked up.
"""

# SQL here is built from this module's own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction

from keys.models import KeyToken, VirtualKey
from portal import context_processors
from tenants.models import Department, User

from . import page_cache
from .models import DailySpend
from .rollups import (  # noqa: F401 (refresh_*: the rollups' rebuild, long imported from here)
    ADVISORY_LOCK_ID,
    METRICS,
    ROLLUPS,
    month_of,
    refresh_all,
    refresh_monthly,
)

BATCH_SIZE = 5000

NATURAL_KEY = ("day", "team_id", "litellm_user_id", "key_hash", "model", "provider")
RESOLVED = ("key_alias", "department_id", "user_id", "key_id")
RECORD = NATURAL_KEY + METRICS + RESOLVED  # one daily row as a tuple, in this order
UPDATE_FIELDS = [*METRICS, "key_alias", "department", "user", "key", "updated_at"]


@dataclass
class SpendRow:
    """One LiteLLM daily aggregate: day × team × user × key × model (+ provider)."""

    day: datetime.date
    team_id: str = ""
    user_id: str = ""
    key_hash: str = ""
    model: str = ""
    provider: str = ""
    spend: Decimal = Decimal("0")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    successes: int = 0
    failures: int = 0
    key_alias: str = ""

    @property
    def natural_key(self) -> tuple:
        return (self.day, self.team_id, self.user_id, self.key_hash, self.model, self.provider)

    def add(self, other: SpendRow) -> None:
        self.spend += other.spend
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.successes += other.successes
        self.failures += other.failures
        self.key_alias = self.key_alias or other.key_alias


@dataclass
class IngestResult:
    rows: int = 0
    changed: int = 0  # rows written (new or different); the rest were already stored as is
    months: set[datetime.date] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)


def merge(rows: Iterable[SpendRow]) -> list[SpendRow]:
    """One row per natural key (PostgreSQL refuses to upsert the same key twice in a statement)."""
    merged: dict[tuple, SpendRow] = {}
    for row in rows:
        existing = merged.get(row.natural_key)
        if existing is None:
            merged[row.natural_key] = SpendRow(**row.__dict__)
        else:
            existing.add(row)
    return list(merged.values())


class Resolver:
    """LiteLLM ids → portal primary keys, loaded once per batch (three indexed look-ups)."""

    def __init__(self, rows: list[SpendRow]):
        self.departments = self._map(
            Department, "litellm_team_id", {r.team_id for r in rows if r.team_id}
        )
        self.users = self._map(User, "entra_oid", {r.user_id for r in rows if r.user_id})
        tokens = {r.key_hash for r in rows if r.key_hash}
        self.keys = {
            **self._map(KeyToken, "token", tokens, id_column="key_id"),
            **self._map(VirtualKey, "litellm_key_id", tokens),
        }

    @staticmethod
    def _map(model, column: str, values: set[str], id_column: str = "id") -> dict[str, int]:
        if not values:
            return {}
        with connection.cursor() as cursor:  # one array parameter, not thousands
            cursor.execute(
                f"SELECT {column}, {id_column} FROM {model._meta.db_table} "
                f"WHERE {column} = ANY(%s)",
                [list(values)],
            )
            return dict(cursor.fetchall())


def _measured(r: SpendRow) -> tuple:
    """The row's natural key and metrics, in ``NATURAL_KEY + METRICS`` order."""
    return (
        r.day,
        r.team_id,
        r.user_id,
        r.key_hash,
        r.model,
        r.provider,
        r.spend,
        r.prompt_tokens,
        r.completion_tokens,
        r.requests,
        r.successes,
        r.failures,
    )


def _records(rows: list[SpendRow], resolver: Resolver) -> list[tuple]:
    return [
        (
            *_measured(r),
            r.key_alias[:200],
            resolver.departments.get(r.team_id),
            resolver.users.get(r.user_id),
            resolver.keys.get(r.key_hash),
        )
        for r in rows
    ]


STAGING = "costs_incoming"
STAGING_COLUMNS = (*NATURAL_KEY, *METRICS, "key_alias")


def upsert_daily(
    rows: Iterable[SpendRow], *, refresh: bool = True, method: str = "sql"
) -> IngestResult:
    """Upsert ``rows`` into DailySpend and move every rollup by the difference they make.

    The rows are COPied into a temporary staging table, then one set-based statement under an
    advisory lock (see ``_statement``) merges duplicates, resolves the portal's ids by joining
    departments, users and keys, compares with the stored rows (rows LiteLLM reports again
    unchanged are left alone), upserts changed and new rows and adds (new − old) to each
    rollup group. The cost follows the batch, not the month.

    ``method="bulk_create"`` upserts with Django's ``bulk_create(update_conflicts=True)`` and
    then rebuilds the touched (month, team) rollups from the daily rows: the same result,
    several times slower (compared in ``bench/costs.py``). ``refresh=False`` (bulk_create
    only) leaves the rollups to a later ``refresh_monthly``.
    """
    if method == "bulk_create":
        rows = merge(rows)
        result = IngestResult(rows=len(rows))
        if not rows:
            return result
        result.months = {month_of(r.day) for r in rows}
        result.teams = {r.team_id for r in rows}
        _bulk_create(_records(rows, Resolver(rows)))
        if refresh:
            refresh_monthly(result.months, result.teams)
        page_cache.bump("spend")
        context_processors.bump()  # the home page's money panels are cached until spend moves
        return result
    result = IngestResult()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        # A commit lost in a crash is re-read by the next run (every run re-reads the last
        # days), so this transaction need not wait for its WAL flush. A planner JIT would cost
        # more than the statement.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL jit = off")
        # The batch's hash aggregates and joins fit in memory instead of spilling to disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (day date, team_id text, "
            "litellm_user_id text, key_hash text, model text, provider text, spend numeric, "
            "prompt_tokens bigint, completion_tokens bigint, requests bigint, "
            "successes bigint, failures bigint, key_alias text) ON COMMIT DELETE ROWS"
        )
        # Empty already, unless an outer transaction (a test, a backfill) staged a batch before.
        cursor.execute(f"TRUNCATE {STAGING}")
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        days, teams, natural_keys = set(), set(), set()
        staged = 0
        with raw.copy(f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((*_measured(r), r.key_alias))
                days.add(r.day)
                teams.add(r.team_id)
                natural_keys.add((r.day, r.team_id, r.user_id, r.key_hash, r.model, r.provider))
                staged += 1
        if not days:
            return result
        result.months = {month_of(d) for d in days}
        result.teams = teams
        # A row LiteLLM reported twice (split pages) is summed first; a batch without any
        # (the usual one) skips that aggregate.
        duplicates = len(natural_keys) < staged
        # Real row counts for the planner (a temporary table has no statistics): hash joins
        # over the batch's days instead of one index probe per staged row. The row count and
        # the days are all it needs, and the key tokens when rows are merged (about as many
        # as the merged rows): the other text columns' statistics would cost as much again.
        raw.execute(f"ANALYZE {STAGING} (day{', key_hash' if duplicates else ''})")
        raw.execute(_statement(duplicates=duplicates))
        result.rows, result.changed = raw.fetchone()
        # Infra's home shows the organisation's month and the ingestion's health.
        scopes = {context_processors.ORG}
        if result.changed:
            people, departments = concerned(raw)
            # The figures of the departments and the people the batch is about, and the org's.
            page_cache.bump(
                "org",
                *(f"department:{d}" for d in departments),
                *(f"user:{u}" for u in people),
            )
            scopes |= {context_processors.department_scope(d) for d in departments}
            scopes |= {context_processors.user_scope(u) for u in people}
    # The home page's money panels are cached until the spend they show moves: the
    # departments' and the people's the batch is about (``portal.context_processors``).
    context_processors.bump(*(context_processors.spend_scope(s) for s in scopes))
    return result


def concerned(raw) -> tuple[set[int], set[int]]:
    """The people and departments of the staged batch: its teams' departments, its keys'
    departments and requesters, and the people LiteLLM reports the spend of."""
    raw.execute(
        f"SELECT k.requester_id, k.department_id FROM {VirtualKey._meta.db_table} k "
        f"JOIN ({key_lookup(f'SELECT key_hash FROM {STAGING}')}) r ON r.id = k.id "
        f"UNION SELECT NULL, id FROM {Department._meta.db_table} "
        f"WHERE litellm_team_id IN (SELECT team_id FROM {STAGING}) "
        f"UNION SELECT id, NULL FROM {User._meta.db_table} "
        f"WHERE entra_oid IN (SELECT litellm_user_id FROM {STAGING} WHERE litellm_user_id <> '')"
    )
    people, departments = set(), set()
    for user_id, department_id in raw.fetchall():
        if user_id is not None:
            people.add(user_id)
        if department_id is not None:
            departments.add(department_id)
    return people, departments


def key_lookup(tokens: str) -> str:
    """SQL giving ``(ref, id)``: each LiteLLM token of ``tokens`` (a subquery) that is a portal
    key's, current or earlier (rotated), with that key's id."""
    return (
        f"SELECT ref, MAX(id) AS id FROM (SELECT litellm_key_id AS ref, id "
        f"FROM {VirtualKey._meta.db_table} WHERE litellm_key_id IN ({tokens}) "
        f"AND litellm_key_id <> '' UNION ALL SELECT token, key_id "
        f"FROM {KeyToken._meta.db_table} WHERE token IN ({tokens})) known GROUP BY 1"
    )


def reattribute(tokens: list[str]) -> int:
    """Resolve the stored rows of ``tokens`` again (every day, not only the days ingestion
    re-reads) and rebuild the rollups of the (month, team) pairs that moved. Called when a
    key's token changes (rotation), under the ingestion's lock. Returns the rows changed."""
    tokens = [t for t in tokens if t]
    if not tokens:
        return 0
    daily = DailySpend._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        cursor.execute(
            f"UPDATE {daily} d SET key_id = k.id, updated_at = now() "
            f"FROM (SELECT t.ref, r.id FROM unnest(%s::text[]) t(ref) "
            f"LEFT JOIN ({key_lookup('SELECT unnest(%s::text[])')}) r ON r.ref = t.ref) k "
            "WHERE d.key_hash = k.ref AND d.key_id IS DISTINCT FROM k.id "
            "RETURNING d.day, d.team_id",
            [tokens, tokens, tokens],
        )
        moved = cursor.fetchall()
        if moved:
            refresh_monthly({month_of(day) for day, _team in moved}, {t for _d, t in moved})
    if moved:
        context_processors.bump()
    return len(moved)


def _statement(*, duplicates: bool = True) -> str:
    """The merge of the staged batch and its deltas into every rollup, as one SQL statement.

    ``duplicates=False``: the staged rows are known to have distinct natural keys (no sums).

    Every CTE sees the tables as they were before the statement, so ``d`` is the stored side.
    """
    daily = DailySpend._meta.db_table
    cols = ", ".join(RECORD)
    nk = ", ".join(NATURAL_KEY)
    updates = ", ".join(f"{c} = c.{c}" for c in (*METRICS, *RESOLVED)) + ", updated_at = now()"
    sums = ", ".join(
        # Spend rounded as DailySpend stores it, so a re-read of an unchanged row compares equal.
        "round(SUM(s.spend), 8)::numeric(18, 8) AS spend"
        if m == "spend"
        else f"SUM(s.{m})::bigint AS {m}"
        for m in METRICS
    )
    values = ", ".join(
        "round(s.spend, 8)::numeric(18, 8) AS spend" if m == "spend" else f"s.{m}" for m in METRICS
    )
    joins = (
        "LEFT JOIN teams t ON t.ref = s.team_id LEFT JOIN users u ON u.ref = s.litellm_user_id "
        "LEFT JOIN vkeys k ON k.ref = s.key_hash"
    )
    lookups = (
        ("teams", Department._meta.db_table, "litellm_team_id", "team_id"),
        ("users", User._meta.db_table, "entra_oid", "litellm_user_id"),
    )
    compared = (*METRICS, *RESOLVED)
    parts = [
        # Ids resolved once per distinct LiteLLM id (an id seen twice: the newest row wins).
        *(
            f"{name} AS (SELECT {column} AS ref, MAX(id) AS id FROM {table} "
            f"WHERE {column} IN (SELECT DISTINCT {source} FROM {STAGING} WHERE {source} <> '') "
            "GROUP BY 1)"
            for name, table, column, source in lookups
        ),
        f"vkeys AS ({key_lookup(f'SELECT DISTINCT key_hash FROM {STAGING}')})",
        (
            f"incoming AS (SELECT s.day, s.team_id, s.litellm_user_id, s.key_hash, s.model, "
            f"s.provider, {sums}, left(MAX(s.key_alias), 200) AS key_alias, "
            "MAX(t.id) AS department_id, MAX(u.id) AS user_id, MAX(k.id) AS key_id "
            f"FROM {STAGING} s {joins} GROUP BY s.{', s.'.join(NATURAL_KEY)})"
            if duplicates
            else f"incoming AS (SELECT s.day, s.team_id, s.litellm_user_id, s.key_hash, s.model, "
            f"s.provider, {values}, left(s.key_alias, 200) AS key_alias, "
            f"t.id AS department_id, u.id AS user_id, k.id AS key_id FROM {STAGING} s {joins})"
        ),
        # New rows and rows whose values differ from the stored ones (rows LiteLLM reports
        # again unchanged drop out here), with the stored row's tuple id and old values: one
        # join, the stored side read through the natural key's index on the batch's days only
        # (with the day range explicit the planner never scans the whole table).
        "changed AS (SELECT i.*, d.ctid AS tid, "
        + ", ".join(f"d.{m} AS old_{m}" for m in METRICS)
        + f", d.key_id AS old_key_id FROM incoming i LEFT JOIN {daily} d ON "
        + " AND ".join(f"d.{c} = i.{c}" for c in NATURAL_KEY)
        + f" AND d.day BETWEEN (SELECT MIN(day) FROM {STAGING}) "
        f"AND (SELECT MAX(day) FROM {STAGING}) "
        f"WHERE d.ctid IS NULL OR ({', '.join(f'i.{c}' for c in compared)}) "
        f"IS DISTINCT FROM ({', '.join(f'd.{c}' for c in compared)}))",
        # Writers are serialised by the advisory lock, so a row is either stored (update it in
        # place, by its tuple id) or new (a plain insert); no ON CONFLICT probing per row.
        f"updated AS (UPDATE {daily} d SET {updates} FROM changed c "
        "WHERE d.ctid = c.tid RETURNING 1)",
        f"inserted AS (INSERT INTO {daily} ({cols}, updated_at) SELECT {cols}, now() "
        "FROM changed WHERE tid IS NULL RETURNING 1)",
        # What each changed row adds to its groups: new − old (a row keeps its groups, which
        # are made of its natural key; its resolved ids are the new ones).
        f"delta AS (SELECT {nk}, {', '.join(RESOLVED)}, "
        + ", ".join(f"{m} - COALESCE(old_{m}, 0) AS {m}" for m in METRICS)
        + ", CASE WHEN key_id IS NULL THEN spend ELSE 0 END - CASE WHEN tid IS NOT NULL AND "
        "old_key_id IS NULL THEN old_spend ELSE 0 END AS unattributed_spend FROM changed)",
    ]
    for n, rollup in enumerate(ROLLUPS):
        table = rollup.table
        keys = ["date_trunc('month', day)::date" if c == "month" else c for c in rollup.key]
        extra = ("unattributed_spend",) if rollup.unattributed else ()
        select = [
            *keys,
            *(f"MAX({a})" for a in rollup.attrs),
            *(f"SUM({m})" for m in (*METRICS, *extra)),
        ]
        set_ = [f"{a} = EXCLUDED.{a}" for a in rollup.attrs] + [
            f"{c} = {table}.{c} + EXCLUDED.{c}" for c in (*METRICS, *extra)
        ]
        insert_cols = ", ".join((*rollup.key, *rollup.attrs, *METRICS, *extra))
        parts.append(
            f"r{n} AS (INSERT INTO {table} ({insert_cols}) "
            f"SELECT {', '.join(select)} FROM delta "
            f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))} "
            f"ON CONFLICT ({', '.join(rollup.key)}) DO UPDATE SET {', '.join(set_)} RETURNING 1)"
        )
    # Data-modifying CTEs run whether or not the final SELECT reads them.
    return (
        f"WITH {', '.join(parts)} "
        "SELECT (SELECT COUNT(*) FROM incoming), "
        "(SELECT COUNT(*) FROM updated) + (SELECT COUNT(*) FROM inserted)"
    )


def _bulk_create(records: list[tuple]) -> None:
    objects = [DailySpend(**dict(zip(RECORD, rec, strict=True))) for rec in records]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        DailySpend.objects.bulk_create(
            objects,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=list(NATURAL_KEY),
            update_fields=UPDATE_FIELDS,
        )
