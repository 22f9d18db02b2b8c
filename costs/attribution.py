"""Who a spend row belongs to: LiteLLM's ids resolved to the portal's, at ingestion and again
when a key's token changes.

- LiteLLM team id → Department (``litellm_team_id``),
- LiteLLM user id → User (``entra_oid``),
- LiteLLM key token hash → VirtualKey (its current ``litellm_key_id`` or, after a rotation,
  one of its earlier tokens: ``KeyToken``).

Anything not found stays on the row as text with an empty foreign key ("unattributed").
"""

# SQL here is built from the models' own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from django.db import connection, transaction

from keys.models import KeyToken, VirtualKey
from portal import context_processors
from tenants.models import Department, User

from .models import DailySpend
from .rollups import ADVISORY_LOCK_ID, month_of, refresh_monthly
from .spend_rows import SpendRow


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
