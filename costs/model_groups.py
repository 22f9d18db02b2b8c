"""Spend by model group: the name callers use (``model_name`` in LiteLLM's config, the names
on keys, policies and the catalogue), never the provider model behind it.

Why LiteLLM's ``model_group`` and not a mapping: LiteLLM 1.106.2 (``.litellm-venv``) writes
``model_group`` beside ``model`` in every daily table (``LiteLLM_DailyTeamSpend``,
``LiteLLM_DailyUserSpend``, ...) and in ``LiteLLM_SpendLogs``, and ``/team/daily/activity``
answers ``breakdown.model_groups`` (by ``model_group``, or ``model`` where a row has none)
beside ``breakdown.models`` (``model``: ``anthropic/claude-3-5-sonnet-20241022`` behind
``claude-3-5-sonnet``). That is LiteLLM's own attribution of each call, right even where one
provider model serves two groups, which no mapping can split. So ingestion reads the groups
(``costs.litellm_source``), and maps a name to its group with the catalogue's record of
``/model/info`` (``catalogue.services.deployment_groups``) only where LiteLLM gave no group
(rows it wrote before it recorded one; a LiteLLM without ``model_groups``).

Rows stored before, under the provider model, are converted in place, under the ingestion's
lock, both ways idempotent:

- ``rename_stored``: every stored row under a provider model the catalogue maps is renamed
  to its group (rows that then share a natural key are summed into one), and its rollups are
  rebuilt; model soft budgets and anomalies' top models follow. Ingestion runs it whenever
  the mapping differs from the one last applied.
- ``drop_superseded``: on the days a run re-reads, a stored row under a name LiteLLM reports
  that day only as a provider model is dropped, in the transaction of the upsert that stores
  the same spend under its group. That covers what no mapping can (a deployment removed
  since, a provider model behind two groups), so nothing counts twice; ``backfill_spend``
  converts every day LiteLLM still holds that way.
"""

# SQL here is built from the models' own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.db import connection, transaction

from portal import audit, context_processors

from .models import BudgetAlert, DailySpend, MonthlySpend, SoftBudget, SpendAnomaly
from .periods import next_month
from .rollups import ADVISORY_LOCK_ID, METRICS, month_of, refresh_monthly
from .spend_rows import SpendRow, merge

log = logging.getLogger(__name__)

SOFT_BUDGET_RENAMED = audit.action("costs.soft_budget_renamed")
APPLIED = "costs:model-groups-applied"  # cache key: the digest of the mapping last applied


def by_group(rows: Iterable[SpendRow], groups: dict[str, str]) -> list[SpendRow]:
    """``rows`` with each provider model ``groups`` knows named by its group, merged."""
    rows = list(rows)
    for row in rows:
        row.model = groups.get(row.model, row.model)
    return merge(rows)


def _digest(groups: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(groups.items())).encode()).hexdigest()


def rename_stored(groups: dict[str, str]) -> int:
    """Rename every stored row under a provider model of ``groups`` to its group, summing
    rows that then share a natural key; rebuild their rollups. Returns the rows renamed.

    Cheap when there is nothing to do: the monthly rollup says which (month, team) pairs
    hold such rows, and a mapping already applied is not looked for again."""
    if not groups or cache.get(APPLIED) == _digest(groups):
        return 0
    old, new = map(list, zip(*sorted(groups.items()), strict=True))
    daily, monthly = DailySpend._meta.db_table, MonthlySpend._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        cursor.execute(
            f"SELECT DISTINCT month, team_id FROM {monthly} WHERE model = ANY(%s)", [old]
        )
        pairs = cursor.fetchall()
        moved = []
        if pairs:
            months = sorted({m for m, _t in pairs})
            cursor.execute(
                _RENAME.format(daily=daily),
                [old, new, months[0], next_month(months[-1]), sorted({t for _m, t in pairs})],
            )
            moved = cursor.fetchall()
            refresh_monthly({m for m, _t, _n in moved}, {t for _m, t, _n in moved})
        _rename_soft_budgets(groups)
        anomalies = SpendAnomaly.objects.filter(top_model__in=old).order_by()
        for name in anomalies.values_list("top_model", flat=True).distinct():
            SpendAnomaly.objects.filter(top_model=name).update(top_model=groups[name])
    transaction.on_commit(lambda: cache.set(APPLIED, _digest(groups), None), robust=True)
    renamed = sum(n for _m, _t, n in moved)
    if renamed:
        context_processors.bump()
        log.info("spend renamed to model groups", extra={"rows": renamed})
    return renamed


# The stored rows of the renamed models, deleted and inserted again under their group: summed
# per natural key, and into a row the group already has (same team, user, key: same ids).
_SUMS = ", ".join(f"SUM({m})" for m in METRICS)
_ADD = ", ".join(f"{m} = d.{m} + EXCLUDED.{m}" for m in METRICS)
_KEEP = ", ".join(
    f"{c} = COALESCE(d.{c}, EXCLUDED.{c})" for c in ("department_id", "user_id", "key_id")
)
_NK = ", ".join(DailySpend.NATURAL_KEY)
_RENAME = (
    "WITH m AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS m(old, new)), "
    "old AS (DELETE FROM {daily} d USING m WHERE d.model = m.old "
    "AND d.day >= %s AND d.day < %s AND d.team_id = ANY(%s) "
    "RETURNING d.day, d.team_id, d.litellm_user_id, d.key_hash, m.new AS model, d.provider, "
    + ", ".join(f"d.{m}" for m in METRICS)
    + ", d.key_alias, d.department_id, d.user_id, d.key_id), "
    f"merged AS (INSERT INTO {{daily}} AS d ({_NK}, {', '.join(METRICS)}, key_alias, "
    f"department_id, user_id, key_id, updated_at) SELECT {_NK}, {_SUMS}, MAX(key_alias), "
    f"MAX(department_id), MAX(user_id), MAX(key_id), now() FROM old GROUP BY {_NK} "
    f"ON CONFLICT ({_NK}) DO UPDATE SET {_ADD}, {_KEEP}, "
    "key_alias = COALESCE(NULLIF(d.key_alias, ''), EXCLUDED.key_alias), updated_at = now() "
    "RETURNING 1) "
    "SELECT date_trunc('month', day)::date, team_id, COUNT(*) FROM old GROUP BY 1, 2"
)


def _rename_soft_budgets(groups: dict[str, str]) -> None:
    """A model's soft budget follows its spend to the group's name, with the alerts it fired
    (so they do not fire again). Where the group has its own budget, that one stays."""
    budgets = SoftBudget.objects.select_for_update().filter(
        scope=SoftBudget.Scope.MODEL, model__in=list(groups)
    )
    for budget in budgets:
        pk, before = budget.pk, {"model": budget.model, "subject": budget.subject}
        group = groups[budget.model]
        subject = SoftBudget.subject_for(budget.department_id, budget.scope, group)
        if SoftBudget.objects.filter(subject=subject).exists():
            budget.delete()
            after = None
        else:
            fired = set(
                BudgetAlert.objects.filter(subject=subject).values_list(
                    "period", "kind", "threshold"
                )
            )
            for alert in BudgetAlert.objects.filter(subject=before["subject"]):
                if (alert.period, alert.kind, alert.threshold) not in fired:
                    alert.subject = subject
                    alert.save(update_fields=["subject"])
            budget.model, budget.subject = group, subject
            budget.save(update_fields=["model", "subject", "updated_at"])
            after = {"model": group, "subject": subject}
        audit.record(
            SOFT_BUDGET_RENAMED,
            budget,
            before=before,
            after=after,
            object_id=str(pk),
            department_id=budget.department_id,
            object_repr=subject,
        )


def drop_superseded(
    superseded: dict[datetime.date, set[str]], rows: Iterable[SpendRow] = ()
) -> int:
    """Delete the stored rows of each day under a name LiteLLM reports that day only as a
    provider model (``litellm_source.provider_models``), unless ``rows`` (the batch about to
    be upserted, by group) name it too; rebuild their rollups. Call it in the upsert's
    transaction. Returns the rows deleted."""
    kept: dict[datetime.date, set[str]] = {}
    for row in rows:
        kept.setdefault(row.day, set()).add(row.model)
    pairs = [
        (day, name) for day, names in superseded.items() for name in names - kept.get(day, set())
    ]
    if not pairs:
        return 0
    days, names = map(list, zip(*pairs, strict=True))
    daily, monthly = DailySpend._meta.db_table, MonthlySpend._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_ID])
        # The monthly rollup (small) says whether any such row is stored at all.
        cursor.execute(
            f"SELECT 1 FROM {monthly} WHERE month = ANY(%s) AND model = ANY(%s) LIMIT 1",
            [sorted({month_of(d) for d in days}), sorted(set(names))],
        )
        if cursor.fetchone() is None:
            return 0
        cursor.execute(
            f"DELETE FROM {daily} d USING unnest(%s::date[], %s::text[]) s(day, model) "
            "WHERE d.day = s.day AND d.model = s.model RETURNING d.day, d.team_id",
            [days, names],
        )
        dropped = cursor.fetchall()
        if dropped:
            refresh_monthly({month_of(d) for d, _t in dropped}, {t for _d, t in dropped})
    if dropped:
        log.info("spend under provider models superseded", extra={"rows": len(dropped)})
    return len(dropped)
