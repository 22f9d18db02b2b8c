"""The key page's usage: spend in the key's current budget period against its budget, and
the last 30 days by day and by model, from the key's daily rollup rows."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Max, Q, Sum

from keys.models import VirtualKey
from portal.days import utc_day, utc_today

from . import periods
from .models import DailySpend

DAYS = 30


def panel(key, ctx: dict) -> dict:
    if not key.pk or not (key.litellm_key_id or key.activated_at):
        return {}
    today = utc_today()
    since = today - datetime.timedelta(days=DAYS - 1)
    rows = DailySpend.objects.filter(key=key)
    window = rows.filter(day__gte=since)
    sums = {"spend": Sum("spend"), "prompt": Sum("prompt_tokens")}
    sums.update(completion=Sum("completion_tokens"), requests=Sum("requests"))
    by_day = {r["day"]: r for r in window.values("day").annotate(**sums).order_by("day")}
    days = []
    for i in range(DAYS):
        day = since + datetime.timedelta(days=i)
        r = by_day.get(day, {})
        days.append({"day": day.isoformat(), "spend": float(r.get("spend") or 0)})
    by_model = list(window.values("model").annotate(**sums).order_by("-spend", "model"))
    created = utc_day(key.activated_at or key.created_at)
    period_start = periods.key_period_start(key.budget_duration or "", today, created)
    period = rows.filter(day__gte=period_start).aggregate(spend=Sum("spend"))
    totals = window.aggregate(**sums)
    spend = period["spend"] or Decimal(0)
    return {
        "usage": {
            "period_start": period_start,
            "spend": spend,
            "pct": periods.percent(spend, key.max_budget),
            "last_used": rows.filter(requests__gt=0).aggregate(last=Max("day"))["last"],
            "tokens": (totals["prompt"] or 0) + (totals["completion"] or 0),
            "requests": totals["requests"] or 0,
            "spend_30d": totals["spend"] or Decimal(0),
            "by_model": by_model,
            "days": days,
        }
    }


def review_facts(items) -> None:
    """An access review's key items: last use (a UTC day) and spend over the last 30 UTC
    days, for the page's items in one query."""
    key_type = ContentType.objects.get_for_model(VirtualKey).pk
    keys = {i.object_id: i for i in items if i.content_type_id == key_type}
    if not keys:
        return
    for item in keys.values():
        item.last_used, item.spend_30d = None, Decimal(0)
    since = utc_today() - datetime.timedelta(days=DAYS - 1)
    rows = (
        DailySpend.objects.filter(key_id__in=list(keys))
        .values("key_id")
        .annotate(
            last=Max("day", filter=Q(requests__gt=0)),
            spend=Sum("spend", filter=Q(day__gte=since)),
        )
        .order_by()
    )
    for row in rows:
        item = keys[row["key_id"]]
        item.last_used, item.spend_30d = row["last"], row["spend"] or Decimal(0)
