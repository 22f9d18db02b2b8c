"""Spend over a rolling window of days (``?days=30&end=YYYY-MM-DD``), for a lead and for infra.

Reads ``TeamDaySpend`` only (day × team rollup): a department's last N days is at most N rows,
the organisation's is N × teams rows. The window ends on ``end`` (default: today, UTC).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Sum
from django.shortcuts import render
from django.utils.translation import gettext as _

from portal.days import utc_today
from tenants.access import department_for_lead, infra_required

from .models import TeamDaySpend

WINDOWS = (7, 30, 90)
DEFAULT_DAYS = 30


def window(request) -> tuple[datetime.date, datetime.date, int]:
    """(first day, last day, days) from the query string; bad values fall back to defaults."""
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    if days not in WINDOWS:
        days = DEFAULT_DAYS
    today = utc_today()
    try:
        end = datetime.date.fromisoformat(request.GET.get("end", ""))
    except ValueError:
        end = today
    end = min(max(end, datetime.date(2000, 1, 1)), today)
    return end - datetime.timedelta(days=days - 1), end, days


def _series(start: datetime.date, days: int, totals: dict) -> list[dict]:
    out = []
    for i in range(days):
        day = start + datetime.timedelta(days=i)
        out.append({"day": day.isoformat(), "spend": float(round(totals.get(day) or 0, 2))})
    return out


def _context(request, qs) -> dict:
    start, end, days = window(request)
    qs = qs.filter(day__gte=start, day__lte=end)
    totals = dict(qs.values_list("day").annotate(total=Sum("spend")))
    total = sum(totals.values(), Decimal(0))
    return {
        "start": start,
        "end": end,
        "days": days,
        "windows": WINDOWS,
        "total": total,
        "per_day": total / days,
        "series": _series(start, days, totals),
        "rows": qs,
    }


def department_recent(request, slug: str):
    dept = department_for_lead(request.user, slug)
    ctx = _context(request, TeamDaySpend.objects.filter(department=dept))
    ctx.update(department=dept, title=_("Costs: %(name)s") % {"name": dept.name})
    if dept.monthly_budget:
        # The monthly budget spread over the window's days, for comparison only.
        ctx["budget_share"] = dept.monthly_budget * ctx["days"] / Decimal("30.4375")
    ctx["table"] = list(reversed(ctx["series"]))
    return render(request, "costs/recent.html", ctx)


@infra_required
def org_recent(request):
    ctx = _context(request, TeamDaySpend.objects.all())
    ctx["title"] = _("Costs: organisation")
    ctx["departments"] = list(
        ctx["rows"]
        .values("department__name", "department__cost_centre", "team_id")
        .annotate(spend=Sum("spend"), requests=Sum("requests"))
        .order_by("-spend", "team_id")
    )
    ctx["table"] = list(reversed(ctx["series"]))
    return render(request, "costs/recent.html", ctx)
