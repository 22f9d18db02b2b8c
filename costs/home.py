"""Home-page panels about money, read from the rollups: my keys' spend against their budgets,
each led department's month with an honest forecast, its recent spend anomalies, and the
organisation's month with the health of ingestion."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal.days import utc_today

from . import figures, forecast, periods
from .models import IngestionState, MonthlyKeySpend, MonthlySpend, SpendAnomaly

SHOWN = 10
ANOMALY_DAYS = 14  # "recent": two weeks of anomalies on the lead's home


def _month():
    today = utc_today()
    month = periods.month_start(today)
    return today, month, periods.add_months(month, -1)


def my_keys(user) -> dict | None:
    if not user.memberships_once():
        return None
    _today, month, _prev = _month()
    keys = list(
        VirtualKey.objects.filter(requester=user, status=Status.ACTIVE)
        .select_related("department")
        .order_by("expires_at", "pk")[:SHOWN]
    )
    spend = dict(
        MonthlyKeySpend.objects.filter(month=month, key__in=[k.pk for k in keys])
        .values_list("key")
        .annotate(total=Sum("spend"))
        .order_by()
    )
    now = timezone.now()
    for key in keys:
        key.month_spend = spend.get(key.pk) or Decimal(0)
        key.pct = periods.percent(key.month_spend, key.max_budget)
        key.days_left = (key.expires_at - now).days if key.expires_at else None
    return {"keys": keys}


def _department_month(department, month, prev, today, actuals: dict) -> dict:
    actual = actuals.get((department.pk, month)) or Decimal(0)
    fc = forecast.month_end(actual, month, today, actuals.get((department.pk, prev)))
    near = MonthlyKeySpend.objects.filter(
        department=department,
        month=month,
        key__max_budget__gt=0,
        spend__gte=F("key__max_budget") * Decimal("0.8"),
    ).count()
    budget = department.monthly_budget
    return {
        "department": department,
        "budget": budget,
        "actual": actual,
        "pct": periods.percent(actual, budget),
        "forecast": fc,
        "forecast_pct": periods.percent(fc.value, budget) if fc.value is not None else None,
        "near": near,
    }


def departments(user) -> dict | None:
    led = [m.department for m in user.memberships_once() if m.role == m.Role.LEAD][:5]
    if not led:
        return None
    today, month, prev = _month()
    actuals = figures.department_months(led, [prev, month])  # as the department page's
    return {"rows": [_department_month(d, month, prev, today, actuals) for d in led]}


def organisation(user) -> dict | None:
    if not user.is_infra:
        return None
    today, month, prev = _month()
    totals = dict(
        MonthlySpend.objects.filter(month__in=[month, prev])
        .values_list("month")
        .annotate(total=Sum("spend"))
        .order_by()
    )
    actual = totals.get(month) or Decimal(0)
    return {
        "actual": actual,
        "forecast": forecast.month_end(actual, month, today, totals.get(prev)),
        "ingestion": list(IngestionState.objects.all()),
    }


def anomalies(user) -> dict | None:
    """The led departments' spend anomalies of the last ``ANOMALY_DAYS`` days (the department's
    own and its keys'), newest first, each with the day's top model and key."""
    led = list(user.departments_led().values_list("pk", flat=True))
    if not led:
        return None
    since = utc_today() - datetime.timedelta(days=ANOMALY_DAYS)
    recent = (
        SpendAnomaly.objects.filter(department__in=led, day__gte=since)
        .select_related("department", "key")
        .order_by("-day", "-spend")[:5]
    )
    return {"anomalies": list(recent), "days": ANOMALY_DAYS}
