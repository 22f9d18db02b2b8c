"""Spend per tag: the labels a key carries (``VirtualKey.tags``, also sent to LiteLLM in the
key's metadata) over the monthly key rollup.

A key with two tags counts in both (tags overlap, so they do not add up to the department's
total); spend of keys without a tag, and of keys the portal did not make, is the ``""`` row.
The tags are the keys' current ones (keys of the department: reading only those keeps the
join to the department's few thousand).
"""

# SQL built from model table names only; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.db import connection

from keys.models import VirtualKey

from .models import MonthlyKeySpend

COLUMNS = ("department_id", "tag", "spend", "prompt_tokens", "completion_tokens", "requests")


def tag_spend(department_ids, month: datetime.date) -> list[dict]:
    """One row per department and tag (``""``: no tag) for ``month``, biggest first."""
    ids = list(department_ids)
    if not ids:
        return []
    sql = f"""
        SELECT m.department_id, COALESCE(t.tag, ''), SUM(m.spend), SUM(m.prompt_tokens),
               SUM(m.completion_tokens), SUM(m.requests)
        FROM {MonthlyKeySpend._meta.db_table} m
        LEFT JOIN {VirtualKey._meta.db_table} k
            ON k.id = m.key_id AND k.department_id = ANY(%s)
        LEFT JOIN LATERAL jsonb_array_elements_text(COALESCE(k.tags, '[]'::jsonb)) AS t(tag)
            ON true
        WHERE m.department_id = ANY(%s) AND m.month = %s
        GROUP BY 1, 2
        ORDER BY 3 DESC, 2"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, ids, month])
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def actual_by_tag(department_ids, month: datetime.date) -> dict[tuple[int, str], Decimal]:
    return {(r["department_id"], r["tag"]): r["spend"] for r in tag_spend(department_ids, month)}


# Keys the pipelines app mints are not VirtualKeys: it says whose they are, registered at
# start-up (costs does not import it). ``names(user_ids)`` maps LiteLLM user ids
# (``pipeline-<pk>``) to identity names; ``runs(start, end)`` maps the key hashes of runs that
# spent in the UTC days ``start`` … ``end`` to ``(identity name, repository)``.
_pipeline_sources: dict[str, Callable] = {}


def register_pipelines(*, names: Callable, runs: Callable) -> None:
    _pipeline_sources.update(names=names, runs=runs)


def pipeline_names(user_ids: Iterable[str]) -> dict[str, str]:
    names = _pipeline_sources.get("names")
    return names(list(user_ids)) if names else {}


def pipeline_runs(start: datetime.date, end: datetime.date) -> dict[str, tuple[str, str]]:
    runs = _pipeline_sources.get("runs")
    return runs(start, end) if runs else {}
