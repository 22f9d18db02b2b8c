"""The rollups kept beside the daily spend rows, and their rebuild from those rows.

Each ``Rollup`` is a table equal to a GROUP BY of ``DailySpend`` over its key; ``costs.ingest``
moves them by the difference each batch makes, ``refresh_monthly``/``refresh_all`` rebuild
them from the daily rows (the repair path, and a bulk load's).
"""

# SQL here is built from this module's own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from . import page_cache
from .models import DailySpend, MonthlyKeySpend, MonthlySpend, MonthlyUserSpend, TeamDaySpend

# Serialises writers (the beat run, a backfill, a repair) across processes.
ADVISORY_LOCK_ID = 0x636F737473  # "costs"
METRICS = ("spend", "prompt_tokens", "completion_tokens", "requests", "successes", "failures")


def month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


@dataclass(frozen=True)
class Rollup:
    """A table kept equal to a GROUP BY of DailySpend over ``key`` (``month`` = the day's)."""

    model: type
    key: tuple[str, ...]
    attrs: tuple[str, ...]  # resolved columns, taken from the newest daily row of the group
    unattributed: bool = False

    @property
    def table(self) -> str:
        return self.model._meta.db_table


ROLLUPS = (
    Rollup(MonthlySpend, ("month", "team_id", "model", "provider"), ("department_id",), True),
    Rollup(MonthlyUserSpend, ("month", "team_id", "litellm_user_id"), ("department_id", "user_id")),
    Rollup(
        MonthlyKeySpend,
        ("month", "team_id", "key_hash"),
        ("department_id", "key_id", "user_id", "key_alias"),
    ),
    Rollup(TeamDaySpend, ("day", "team_id"), ("department_id",)),
)


def refresh_monthly(months: Iterable[datetime.date], teams: Iterable[str]) -> None:
    """Rebuild every rollup for the (month, team) pairs given, from the daily rows.

    The repair path (and the bulk load's): ``upsert_daily`` keeps the rollups in step by
    itself. Department and user come from the daily rows as resolved at their ingestion.
    """
    months = sorted({month_of(m) for m in months})
    teams = sorted(set(teams))
    if not months or not teams:
        return
    daily = DailySpend._meta.db_table
    params = {
        "months": months,
        "teams": teams,
        "start": months[0],
        "end": _next_month(months[-1]),
    }
    where = """day >= %(start)s AND day < %(end)s AND team_id = ANY(%(teams)s)
               AND date_trunc('month', day)::date = ANY(%(months)s)"""
    sums = ", ".join(f"SUM({m})" for m in METRICS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        page_cache.bump("spend")  # again when this commits
        for rollup in ROLLUPS:
            table = rollup.table
            if "month" in rollup.key:
                scope = "month = ANY(%(months)s)"
            else:
                scope = "date_trunc('month', day)::date = ANY(%(months)s)"
            cursor.execute(
                f"DELETE FROM {table} WHERE {scope} AND team_id = ANY(%(teams)s)",
                params,
            )
            keys = ["date_trunc('month', day)::date" if c == "month" else c for c in rollup.key]
            extra_cols = ", unattributed_spend" if rollup.unattributed else ""
            extra_sum = (
                ", COALESCE(SUM(spend) FILTER (WHERE key_id IS NULL), 0)"
                if rollup.unattributed
                else ""
            )
            cursor.execute(
                f"""INSERT INTO {table} ({", ".join(rollup.key + rollup.attrs + METRICS)}
                    {extra_cols})
                SELECT {", ".join(keys)}, {", ".join(f"MAX({a})" for a in rollup.attrs)},
                    {sums} {extra_sum}
                FROM {daily} WHERE {where}
                GROUP BY {", ".join(str(i + 1) for i in range(len(keys)))}""",
                params,
            )


def _next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def refresh_all() -> None:
    """Rebuild every rollup from the daily table (after a bulk load or a repair)."""
    table = DailySpend._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', day)::date, team_id FROM {table}")
        pairs = cursor.fetchall()
    by_month: dict[datetime.date, set[str]] = {}
    for month, team in pairs:
        by_month.setdefault(month, set()).add(team)
    for month, teams in by_month.items():
        refresh_monthly([month], teams)
