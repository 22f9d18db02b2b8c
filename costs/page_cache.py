"""A short-lived cache of the cost dashboards' figures, dropped whenever their data changes.

The lead's and infra's pages render the same figures for everyone allowed to see them (a
department's month, the organisation's month): the rendered figures are kept for
``COSTS_PAGE_CACHE_SECONDS`` (default 300) under a key made of what they depend on — the page,
the month, today's date (forecasts), the language, the table pages — and of *versions*:

- ``spend``: moved by every rollup rebuild (after commit),
- ``department:<id>``: moved when the department, one of its keys or tuning projects (or their
  Langfuse metrics), member budgets, soft budgets, budget alerts or budget requests change
  (signals, after commit), and by an ingestion that changed its spend,
- ``org``: moved when any department changes (names, cost centres, budgets) or a tuning
  project's Langfuse metrics do, and by every ingestion that changed spend,
- ``user:<id>``: moved when one of the person's keys changes (their own spend page), and by an
  ingestion that changed the spend of their keys or of their LiteLLM user.

An ingestion moves only the scopes its rows are about (``costs.ingest.concerned``): a batch of
one department's spend leaves the other departments' pages cached.

A version is a timestamp, so a stale figure is never served after a change is committed; the
expiry bounds what no signal reports (a person renamed by the directory sync).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

PREFIX = "costs:page"


def timeout() -> int:
    return getattr(settings, "COSTS_PAGE_CACHE_SECONDS", 300)


def _version_key(scope: str) -> str:
    return f"{PREFIX}:v:{scope}"


def bump(*scopes: str) -> None:
    """Move the versions of ``scopes`` now and again after commit (a page rendered from the
    old rows while the change commits is not kept past the commit)."""
    if timeout() <= 0:
        return  # no cache, nothing to drop

    def run():
        now = time.time_ns()
        cache.set_many({_version_key(s): now for s in scopes}, None)

    run()
    transaction.on_commit(run, robust=True)


def cached(parts: tuple, scopes: tuple[str, ...], build: Callable[[], str]) -> str:
    """``build()``'s text, from the cache when nothing in ``scopes`` changed since it was made."""
    if timeout() <= 0:
        return build()
    keys = [_version_key(s) for s in scopes]
    versions = cache.get_many(keys)
    missing = {k: time.time_ns() for k in keys if k not in versions}
    if missing:  # first use (or evicted): start a version, so later changes are seen
        cache.set_many(missing, None)
        versions.update(missing)
    key = ":".join([PREFIX, *map(str, parts), *(str(versions[k]) for k in keys)])
    text = cache.get(key)
    if text is None:
        text = build()
        cache.set(key, text, timeout())
    return text


def department_scopes(department_id) -> tuple[str, ...]:
    return ("spend", f"department:{department_id}")


ORG_SCOPES = ("spend", "org")


def user_scopes(user_id) -> tuple[str, ...]:
    return ("spend", f"user:{user_id}")


# --- what moves the versions ------------------------------------------------------------------


def _department_changed(sender, instance, **kwargs) -> None:
    bump(f"department:{instance.pk}", "org")


def _owned_by_department(sender, instance, **kwargs) -> None:
    if getattr(instance, "department_id", None):
        bump(f"department:{instance.department_id}")


def _project_metrics_changed(sender, instance, **kwargs) -> None:
    from projects.models import TuningProject

    department = TuningProject.objects.filter(pk=instance.project_id).values("department_id")
    for row in department:
        # The department page's Langfuse costs, and the org page's (counted in the budget).
        bump(f"department:{row['department_id']}", "org")


def _key_changed(sender, instance, **kwargs) -> None:
    _owned_by_department(sender, instance)
    bump(f"user:{instance.requester_id}")  # the owner's spend page names and counts their keys


def connect() -> None:
    """Connect the signals (``CostsConfig.ready``)."""
    from keys.models import VirtualKey
    from projects.models import ProjectMetricsDay, TuningProject
    from tenants.models import Department

    from .models import BudgetAlert, BudgetRequest, MemberBudget, SoftBudget

    for signal in (post_save, post_delete):
        signal.connect(_department_changed, sender=Department, dispatch_uid=f"{PREFIX}:dept")
        signal.connect(_key_changed, sender=VirtualKey, dispatch_uid=f"{PREFIX}:VirtualKey")
        signal.connect(
            _project_metrics_changed, sender=ProjectMetricsDay, dispatch_uid=f"{PREFIX}:metrics"
        )
        for model in (TuningProject, MemberBudget, SoftBudget, BudgetAlert, BudgetRequest):
            signal.connect(
                _owned_by_department, sender=model, dispatch_uid=f"{PREFIX}:{model.__name__}"
            )
