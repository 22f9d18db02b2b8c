"""The department page's pipeline identities: runs and spend per identity and repository over
the last 30 UTC days (spend as each run key's final figure, kept by the sweep)."""

from __future__ import annotations

import datetime

from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import PipelineExchange


def spend_by_repository(department, days: int = 30) -> list[dict]:
    since = timezone.now() - datetime.timedelta(days=days)
    issued = Q(outcome=PipelineExchange.Outcome.ISSUED)
    return list(
        PipelineExchange.objects.filter(identity__department=department, created_at__gte=since)
        .values("identity_id", "identity__name", "repository")
        .annotate(
            runs=Count("pk", filter=issued),
            refused=Count("pk", filter=~issued),
            spend=Sum("spend", default=0),
        )
        .order_by("-spend", "identity__name", "repository")[:50]
    )


def panel(department, ctx: dict) -> dict:
    return {"pipeline_spend": spend_by_repository(department)}
