"""Refresh the catalogue from LiteLLM, and answer what the pages ask of it."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from approvals.models import Condition, PolicyStage
from portal.integrations.litellm import LiteLLMClient

from .models import MILLION, CatalogueModel

log = logging.getLogger(__name__)


def _per_million(value) -> Decimal | None:
    try:
        return None if value is None else (Decimal(str(value)) * MILLION).quantize(Decimal("1e-6"))
    except InvalidOperation:
        return None


def _tokens(value) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


@transaction.atomic
def refresh(client: LiteLLMClient | None = None) -> dict[str, int]:
    """Upsert every model group LiteLLM serves; mark the ones it no longer serves as gone
    (kept, so the keys that name them can be flagged). Returns what changed."""
    client = client or LiteLLMClient.from_settings()
    groups = {g["model_group"]: g for g in client.model_groups() if g.get("model_group")}
    deployments = _deployments(client.model_info())
    now = timezone.now()
    known = {m.name: m for m in CatalogueModel.objects.select_for_update()}
    counts = {"added": 0, "updated": 0, "gone": 0}
    for name, group in groups.items():
        values = {
            "providers": sorted(group.get("providers") or []),
            "mode": group.get("mode") or "",
            "context_window": _tokens(group.get("max_input_tokens")),
            "input_price": _per_million(group.get("input_cost_per_token")),
            "output_price": _per_million(group.get("output_cost_per_token")),
            "deployments": sorted(deployments.get(name, ())),
            "seen_at": now,
            "missing_since": None,
        }
        _, created = CatalogueModel.objects.update_or_create(name=name, defaults=values)
        counts["added" if created else "updated"] += 1
    gone = [m.pk for name, m in known.items() if name not in groups and not m.missing_since]
    counts["gone"] = CatalogueModel.objects.filter(pk__in=gone).update(missing_since=now)
    log.info("catalogue refreshed", extra=counts)
    return counts


def _deployments(model_info: list[dict]) -> dict[str, set[str]]:
    """Model group → the provider models of its deployments (``litellm_params.model``, and
    ``model_info.key`` where LiteLLM names it otherwise). Wildcard routes name no model."""
    out: dict[str, set[str]] = {}
    for entry in model_info:
        group = entry.get("model_name")
        if not group:
            continue
        names = {
            (entry.get("litellm_params") or {}).get("model"),
            (entry.get("model_info") or {}).get("key"),
        }
        out.setdefault(group, set()).update(
            n for n in names if isinstance(n, str) and n and "*" not in n and n != group
        )
    return out


def deployment_groups() -> dict[str, str]:
    """Provider model → the one model group it serves, from the catalogue (models LiteLLM no
    longer serves included, for the spend they left). A provider model behind two groups,
    or that is itself a group's name, is left out: its name says nothing more."""
    rows = list(CatalogueModel.objects.values_list("name", "deployments", "missing_since"))
    names = {name for name, _d, _m in rows}
    served: dict[str, set[str]] = {}
    gone: dict[str, set[str]] = {}
    for name, deployments, missing_since in rows:
        for model in deployments or ():
            (gone if missing_since else served).setdefault(model, set()).add(name)
    out = {}
    for model in served.keys() | gone.keys():
        # A model LiteLLM serves now speaks for its current group, not one it served before.
        groups = served.get(model) or gone.get(model, set())
        if len(groups) == 1 and model not in names:
            out[model] = next(iter(groups))
    return out


def premium_models(department_ids) -> dict[int, set[str]]:
    """Each department's premium set, by its own policy: the models its premium-model stages
    name. A department without such a stage has none."""
    sets: dict[int, set[str]] = {}
    stages = PolicyStage.objects.filter(
        condition=Condition.PREMIUM_MODEL, policy__department_id__in=list(department_ids)
    ).values_list("policy__department_id", "premium_models")
    for department_id, names in stages:
        sets.setdefault(department_id, set()).update(names or [])
    return sets


def by_name(names) -> dict[str, CatalogueModel]:
    return {m.name: m for m in CatalogueModel.objects.filter(name__in=list(names))}


def missing(names) -> list[str]:
    """The names LiteLLM no longer serves (or never did, as far as the catalogue knows)."""
    names = list(names)
    if not CatalogueModel.objects.exists():
        return []  # never refreshed: nothing to compare with
    served = set(
        CatalogueModel.objects.filter(name__in=names, missing_since__isnull=True).values_list(
            "name", flat=True
        )
    )
    return [n for n in names if n not in served]
