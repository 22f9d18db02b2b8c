"""Upsert LiteLLM's daily spend rows and keep the monthly rollups in step.

``upsert_daily(rows)`` is idempotent: the same rows twice leave the same tables. A row that
arrives late (LiteLLM's daily rows keep growing during the day and a few minutes after it)
replaces the earlier value of its natural key. Each row is attributed at ingestion
(``costs.attribution``): keys made outside the portal stay with their team's department,
unknown teams stay visible to infra. Re-reading a day re-resolves it, so a key or team mapped
later is picked up. Rows are by model group (``costs.model_groups``).

Where the rest lives: the row's shape in ``costs.spend_rows``, the set-based statement in
``costs.upsert_statement``, the rollups and their rebuild in ``costs.rollups``.
"""

# SQL here is built from this module's own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from keys.models import VirtualKey
from portal import context_processors
from tenants.models import Department, User

from . import page_cache
from .attribution import Resolver, key_lookup
from .models import DailySpend
from .rollups import (  # noqa: F401 (METRICS, refresh_all: long imported from here)
    ADVISORY_LOCK_ID,
    METRICS,
    month_of,
    refresh_all,
    refresh_monthly,
)
from .spend_rows import IngestResult, SpendRow, merge
from .upsert_statement import NATURAL_KEY, RECORD, STAGING, STAGING_COLUMNS, statement

BATCH_SIZE = 5000
UPDATE_FIELDS = [*METRICS, "key_alias", "department", "user", "key", "updated_at"]


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


def upsert_daily(
    rows: Iterable[SpendRow], *, refresh: bool = True, method: str = "sql"
) -> IngestResult:
    """Upsert ``rows`` into DailySpend and move every rollup by the difference they make.

    The rows are COPied into a temporary staging table, then one set-based statement under an
    advisory lock (``costs.upsert_statement``) merges duplicates, resolves the portal's ids by
    joining departments, users and keys, compares with the stored rows (rows LiteLLM reports again
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
        raw.execute(statement(duplicates=duplicates))
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
