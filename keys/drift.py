"""Drift between what the portal holds and what LiteLLM enforces, and the fix: make LiteLLM
match the portal. Reconcile finds it (``keys.reconcile``); infra fixes one finding or all of
them from the operations page. Each fix runs under the same lock as every other change to the
key (or the department's team), re-reads LiteLLM there, and is audited."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from approvals.lifecycle import Status
from portal import audit
from portal.integrations.errors import NotFound
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department, User

from .models import VirtualKey
from .services import team_id_for

# LiteLLM computes a key's expiry when it generates it, the portal when the key goes live.
EXPIRY_TOLERANCE = datetime.timedelta(minutes=10)
KEY_FIXED = audit.action("virtualkey.drift_fixed")
TEAM_FIXED = audit.action("department.team_drift_fixed")


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def key_mismatches(key: VirtualKey, remote: dict[str, Any]) -> list[dict[str, str]]:
    """The fields where LiteLLM's key differs from the portal's: budget, models, rate limits,
    expiry and the blocked flag. Each as ``{"field", "portal", "litellm"}``, as text."""
    out = []

    def differs(field: str, portal: Any, litellm: Any) -> None:
        if portal != litellm:
            out.append({"field": field, "portal": str(portal), "litellm": str(litellm)})

    differs("max_budget", _money(key.max_budget), _money(remote.get("max_budget")))
    differs("models", sorted(key.llm_models or []), sorted(remote.get("models") or []))
    differs("rpm_limit", key.rpm_limit, remote.get("rpm_limit"))
    differs("tpm_limit", key.tpm_limit, remote.get("tpm_limit"))
    differs("blocked", False, bool(remote.get("blocked")))
    expires = parse_datetime(remote["expires"]) if remote.get("expires") else None
    if key.expires_at and (expires is None or abs(expires - key.expires_at) > EXPIRY_TOLERANCE):
        out.append(
            {
                "field": "expires",
                "portal": key.expires_at.isoformat(timespec="minutes"),
                "litellm": expires.isoformat(timespec="minutes") if expires else "never",
            }
        )
    return out


def team_mismatches(department: Department, team: dict[str, Any]) -> list[dict[str, str]]:
    """The team's budget against the department's; its models only where LiteLLM restricts
    them (an empty list lets the team's keys call every model, and the portal's keys carry
    their own lists)."""
    out = []
    portal = _money(department.monthly_budget) if department.monthly_budget else None
    if portal != _money(team.get("max_budget")):
        out.append(
            {"field": "max_budget", "portal": str(portal), "litellm": str(team.get("max_budget"))}
        )
    models = sorted(team.get("models") or [])
    if models and models != sorted(department.allowed_models or []):
        out.append(
            {
                "field": "models",
                "portal": str(sorted(department.allowed_models or [])),
                "litellm": str(models),
            }
        )
    return out


def describe(mismatches: list[dict[str, str]]) -> str:
    """The drift in one line, in the active language (``{"field": "deleted"}``: the key is
    gone from LiteLLM)."""
    parts = []
    for m in mismatches:
        if m["field"] == "deleted":
            parts.append(_("deleted in LiteLLM outside the portal"))
        else:
            parts.append(f"{m['field']}: " + _("LiteLLM %(litellm)s, portal %(portal)s") % m)
    return "; ".join(parts)


@transaction.atomic
def make_key_match(key_id: int, *, actor: User, request=None) -> list[dict[str, str]]:
    """Make LiteLLM's key match the portal's, under the key's lock. Returns what was fixed (an
    empty list: nothing differed any more). A key gone from LiteLLM cannot be fixed here."""
    key = VirtualKey.objects.select_related("department").locked(key_id)
    if key.status != Status.ACTIVE or not key.litellm_key_id:
        return []
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    try:
        remote = client.key_info(key.litellm_key_id).get("info") or {}
    except NotFound:
        return []  # deleted out of band: the finding stays for infra (rotate or revoke)
    fixed = key_mismatches(key, remote)
    if not fixed:
        return []
    fields = {f["field"] for f in fixed}
    update: dict[str, Any] = {}
    if "max_budget" in fields:
        update["max_budget"] = float(key.max_budget)
    if "models" in fields:
        update["models"] = key.llm_models
    if "rpm_limit" in fields:
        update["rpm_limit"] = key.rpm_limit
    if "tpm_limit" in fields:
        update["tpm_limit"] = key.tpm_limit
    if "expires" in fields and key.expires_at:
        seconds = int((key.expires_at - timezone.now()).total_seconds())
        update["duration"] = f"{max(seconds, 60)}s"
    if update:
        client.update_key(key.litellm_key_id, **update)
    if "blocked" in fields:
        client.unblock_key(key.litellm_key_id)
    VirtualKey.objects.filter(pk=key.pk).update(drift="", drift_fields=[])
    return _audited(KEY_FIXED, key, fixed, actor=actor, request=request)


@transaction.atomic
def make_team_match(department_id: int, *, actor: User, request=None) -> list[dict[str, str]]:
    """Make the department's LiteLLM team match the portal, under the department's row lock."""
    department = Department.objects.select_for_update().get(pk=department_id)
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    team_id = team_id_for(department)
    try:
        team = client.team_info(team_id).get("team_info") or {}
    except NotFound:
        return []
    fixed = team_mismatches(department, team)
    if not fixed:
        return []
    update: dict[str, Any] = {}
    for f in fixed:
        if f["field"] == "max_budget":
            budget = department.monthly_budget
            update["max_budget"] = float(budget) if budget else None
        elif f["field"] == "models":
            update["models"] = list(department.allowed_models or [])
    client.update_team(team_id, **update)
    return _audited(TEAM_FIXED, department, fixed, actor=actor, request=request)


def _audited(action: str, obj, fixed: list[dict[str, str]], *, actor, request) -> list:
    """One audit row for a fix: LiteLLM's values before, the portal's after."""
    audit.record(
        audit.declared(action),
        obj,
        actor=actor,
        request=request,
        before={f["field"]: f["litellm"] for f in fixed},
        after={f["field"]: f["portal"] for f in fixed},
    )
    return fixed
