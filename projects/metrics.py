"""Tuning projects' daily metrics, pulled from Langfuse with the portal's own key."""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone

from approvals.lifecycle import Status
from portal.integrations.errors import IntegrationError
from portal.integrations.langfuse import LangfuseClient

from .models import ProjectMetricsDay, TuningProject

log = logging.getLogger(__name__)

# How far back a pull reads when a project has no activation time (made by hand, say).
METRICS_FALLBACK_DAYS = 3


def metrics_window(
    project: TuningProject, now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """The whole UTC days a pull reads: from the lease's first day through today.

    Langfuse's metrics view counts a trace a moment after its observations can be read, and late
    traces keep arriving, so no day of a live project is taken as final: every pull reads the
    whole lease again (one query). The window ends with the last millisecond of today, not
    ``now``: a trace started in the pull's own second still counts."""
    today = now.astimezone(datetime.UTC).date()
    first = project.activated_at.astimezone(datetime.UTC).date() if project.activated_at else None
    if first is None or first > today:
        first = today - datetime.timedelta(days=METRICS_FALLBACK_DAYS)
    start = datetime.datetime.combine(first, datetime.time.min, tzinfo=datetime.UTC)
    end = datetime.datetime.combine(today, datetime.time.max, tzinfo=datetime.UTC)
    return start, end.replace(microsecond=999000)


def pull_metrics(project: TuningProject, *, now: datetime.datetime | None = None) -> int:
    """Upsert every day of the project's lease so far, read with the portal's key. A day that
    Langfuse reports nothing for is stored as zero, so a page never shows a stale figure."""
    if not (project.portal_public_key and project.portal_secret_encrypted):
        return 0
    client = LangfuseClient.from_settings()
    since, until = metrics_window(project, now or timezone.now())
    rows = {
        row.day: row
        for row in client.daily_project_metrics(
            project.portal_public_key, project.portal_secret(), since, until
        )
    }
    fields = ("traces", "observations", "input_tokens", "output_tokens", "total_tokens", "cost")
    day = since.date()
    while day <= until.date():
        row = rows.get(day)
        ProjectMetricsDay.objects.update_or_create(
            project=project,
            day=day,
            defaults={f: getattr(row, f) if row else 0 for f in fields},
        )
        day += datetime.timedelta(days=1)
    return len(rows)


def pull_all_metrics() -> int:
    count = 0
    for project in TuningProject.objects.filter(status=Status.ACTIVE).exclude(portal_public_key=""):
        try:
            count += pull_metrics(project)
        except IntegrationError as exc:
            log.warning("metrics pull failed", extra={"project": project.pk, "error": str(exc)})
    return count
