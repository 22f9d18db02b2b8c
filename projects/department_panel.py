"""The department page's tuning projects, registered with ``tenants`` by ``ProjectsConfig``."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db.models import Q, Sum

from approvals.lifecycle import Status
from portal.days import utc_today

from .models import TuningProject


def tuning_projects_with_usage(department):
    """The department's live tuning projects with their last 30 days from Langfuse."""
    since = utc_today() - datetime.timedelta(days=30)
    recent = Q(metrics__day__gte=since)
    return (
        TuningProject.objects.filter(department=department, status=Status.ACTIVE)
        .select_related("requester")
        .annotate(
            traces_30d=Sum("metrics__traces", filter=recent, default=0),
            tokens_30d=Sum("metrics__total_tokens", filter=recent, default=0),
            cost_30d=Sum("metrics__cost", filter=recent, default=0),
        )
        .order_by("expires_at")
    )


def panel(department, ctx: dict) -> dict:
    return {"projects": tuning_projects_with_usage(department)[: settings.PAGE_SIZE]}
