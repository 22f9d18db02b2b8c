"""Reconcile tuning projects with Langfuse: what differs is reported to infra, never fixed
automatically."""

from __future__ import annotations

from approvals.lifecycle import Status
from portal.integrations.langfuse import EntitlementMissing, LangfuseClient

from .models import TuningProject


def reconcile_findings(client: LangfuseClient | None = None) -> list[dict]:
    """Compare the portal's tuning projects with Langfuse's list of the organisation's projects.

    Reported, never fixed automatically: active projects deleted in Langfuse out of band, and
    ``tuning-*`` projects in Langfuse that the portal does not know (or already ended).
    Without the admin-API entitlement there is nothing to compare (manual fulfilment).
    """
    client = client or LangfuseClient.from_settings()
    try:
        remote = {p.id: p for p in client.list_projects()}
    except EntitlementMissing:
        return []
    findings = []
    live = TuningProject.objects.filter(status=Status.ACTIVE).exclude(langfuse_project_id="")
    for project in live:
        if project.langfuse_project_id not in remote:
            findings.append(_finding("deleted", project.project_name, project.langfuse_project_id))
    known = set(
        TuningProject.objects.filter(torn_down_at__isnull=True)
        .exclude(langfuse_project_id="")
        .values_list("langfuse_project_id", flat=True)
    )
    for project_id, remote_project in remote.items():
        if remote_project.name.startswith("tuning-") and project_id not in known:
            findings.append(_finding("unknown", remote_project.name, project_id))
    return findings


def _finding(kind: str, name: str, project_id: str) -> dict:
    return {"kind": kind, "team": "Langfuse", "alias": name, "token": project_id}
