"""Reconcile: compare the portal's keys with LiteLLM (and, through ``keys.panels.RECONCILE``,
what other apps compare: tuning projects with Langfuse).

Drift is reported to infra; with ``RECONCILE_BLOCK_UNKNOWN_KEYS`` live keys in managed teams
that the portal does not know are blocked too.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from approvals.lifecycle import LIVE_STATUSES, Status
from portal import audit
from portal.integrations.errors import IntegrationError, NotFound
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department

from . import drift as drift_module
from . import panels
from .models import ReconcileRun, VirtualKey
from .services import team_id_for

DRIFT = audit.action("virtualkey.drift")
UNKNOWN_BLOCKED = audit.action("virtualkey.unknown_blocked")


def reconcile(client: LiteLLMClient | None = None) -> ReconcileRun:
    """Compare every managed team's keys in LiteLLM with the portal's; record the drift.

    Portal keys gone or blocked in LiteLLM are marked; LiteLLM keys in managed teams that
    the portal does not know are listed for infra; tuning projects are compared with
    Langfuse's list the same way. Nothing is deleted automatically.
    """
    client = client or LiteLLMClient.from_settings(changed_by="portal:reconcile")
    run = ReconcileRun.objects.create()
    findings: list[dict] = []
    try:
        for department in Department.objects.all():
            # A department the portal has not (yet) recorded a team for is looked up under the
            # team id provisioning gives it: after a restore from a backup, a team created
            # since holds keys the restored portal does not know.
            team_id = team_id_for(department)
            remote = {k["token"]: k for k in _all_team_keys(client, team_id)}
            if not department.litellm_team_id:
                if not remote:
                    continue
                department.litellm_team_id = team_id  # for the findings; not saved
            run.teams_checked += 1
            run.keys_checked += len(remote)
            findings.extend(_team_drift(client, department))
            for key in VirtualKey.objects.filter(department=department, status=Status.ACTIVE):
                found = remote.get(key.litellm_key_id)
                fields, finding = [], None
                if found is None and _still_held(client, key):
                    continue  # missed by the paged list (no snapshot): compared next run
                if found is None:
                    fields = [{"field": "deleted"}]
                    finding = _finding("deleted", department, key.alias, key.litellm_key_id)
                elif mismatches := drift_module.key_mismatches(key, found):
                    fields = mismatches
                    only_blocked = [m["field"] for m in mismatches] == ["blocked"]
                    kind = "blocked" if only_blocked else "mismatch"
                    finding = _finding(kind, department, key.alias, key.litellm_key_id)
                    finding.update(key_id=key.pk, fields=mismatches)
                if finding:
                    findings.append(finding)
                with translation.override(settings.LANGUAGE_CODE):  # pages use the fields
                    drift = drift_module.describe(fields)[:200]  # the finding has all
                if drift != key.drift or fields != key.drift_fields:
                    VirtualKey.objects.filter(pk=key.pk).update(drift=drift, drift_fields=fields)
                    audit.record(DRIFT, key, before={"drift": key.drift}, after={"drift": drift})
            believed_live = set(
                VirtualKey.objects.filter(
                    department=department, status__in=[Status.ACTIVE, Status.SUSPENDED]
                ).values_list("litellm_key_id", flat=True)
            )
            for token, info in remote.items():
                if token not in believed_live:
                    finding = _unknown_key(client, department, token, info)
                    if finding:
                        findings.append(finding)
    except IntegrationError as exc:
        run.error = str(exc)
    for more_findings in panels.RECONCILE:  # tuning projects against Langfuse
        try:
            findings.extend(more_findings())
        except IntegrationError as exc:
            run.error = f"{run.error} {exc}".strip()
    run.findings = findings
    run.finished_at = timezone.now()
    run.save()
    return run


def _team_drift(client: LiteLLMClient, department: Department) -> list[dict]:
    try:
        team = client.team_info(department.litellm_team_id).get("team_info") or {}
    except NotFound:
        return [_finding("team_missing", department, department.name, department.litellm_team_id)]
    mismatches = drift_module.team_mismatches(department, team)
    if not mismatches:
        return []
    finding = _finding("team", department, department.name, department.litellm_team_id)
    finding.update(department_id=department.pk, fields=mismatches)
    return [finding]


_PORTAL_ALIAS = re.compile(r"^portal-(\d+)-")


def _unknown_key(client: LiteLLMClient, department: Department, token: str, info: dict):
    """A live key in a managed team that the portal does not believe live, or None after a
    second look. A key that belongs to one of our requests is looked at again under that
    request's lock, so a key being generated or rotated right now is not mistaken for drift.
    With ``RECONCILE_BLOCK_UNKNOWN_KEYS`` the key is blocked in LiteLLM, still under the lock."""
    alias = info.get("key_alias") or ""
    match = _PORTAL_ALIAS.match(alias)
    with transaction.atomic():
        if match:
            key = VirtualKey.objects.select_for_update(of=("self",)).filter(pk=match[1]).first()
            if (
                key
                and key.litellm_key_id == token
                and key.status
                in LIVE_STATUSES
                + [
                    Status.SUSPENDED,
                    Status.PROVISIONING,
                ]
            ):
                return None
        try:
            current = client.key_info(token).get("info", {})
        except NotFound:
            return None  # deleted meanwhile (a revoke or rotation finished)
        finding = _finding("unknown", department, alias, token)
        if settings.RECONCILE_BLOCK_UNKNOWN_KEYS and not current.get("blocked"):
            client.block_key(token)
            finding["action"] = "blocked"
            audit.record(
                UNKNOWN_BLOCKED,
                department,
                after={"alias": alias, "team": department.litellm_team_id},
            )
        return finding


def _finding(kind: str, department: Department, alias: str, token: str) -> dict:
    return {"kind": kind, "team": department.litellm_team_id, "alias": alias, "token": token}


def _still_held(client: LiteLLMClient, key: VirtualKey) -> bool:
    """Asked again by the key's alias: LiteLLM's key list is paged newest first and is no
    snapshot, so a key deleted while the pages are read pulls another onto a page already
    read. (``/key/info`` is no witness: it can answer from LiteLLM's cache after a delete.)"""
    held = client.find_key_by_alias(key.alias)
    return held is not None and held["token"] == key.litellm_key_id


def _all_team_keys(client: LiteLLMClient, team_id: str) -> list[dict]:
    keys, page = [], 1
    while True:
        response = client.list_keys(team_id=team_id, page=page, size=100, return_full_object=True)
        keys.extend(response.get("keys") or [])
        if page >= (response.get("total_pages") or 1):
            return keys
        page += 1
