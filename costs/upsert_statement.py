"""The one SQL statement that merges a staged batch of daily rows into DailySpend and moves
every rollup by the difference it makes (``costs.ingest.upsert_daily`` stages and runs it)."""

# SQL here is built from this module's own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from tenants.models import Department, User

from .attribution import key_lookup
from .models import DailySpend
from .rollups import METRICS, ROLLUPS

STAGING = "costs_incoming"  # the temporary table a batch is COPied into
NATURAL_KEY = DailySpend.NATURAL_KEY
RESOLVED = ("key_alias", "department_id", "user_id", "key_id")
RECORD = NATURAL_KEY + METRICS + RESOLVED  # one daily row as a tuple, in this order
STAGING_COLUMNS = (*NATURAL_KEY, *METRICS, "key_alias")


def statement(*, duplicates: bool = True) -> str:
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
