"""Tuning projects' Langfuse cost in the department's budget, without counting anything twice.

Langfuse computes a cost for the traces a project receives (``ProjectMetricsDay.cost``, pulled
per UTC day). Some of those traces may be calls LiteLLM has already charged: while a project is
routed from a LiteLLM virtual key (``route_key``), every call of that key is traced into the
project with the cost LiteLLM computed. The rule, per project and UTC day:

    counted = max(0, Langfuse cost − LiteLLM spend of the routed key that day)

where the key's spend is subtracted only from the UTC day routing was set (``routed_at``, or
the "routing" provisioning step once routing has been removed at the end of the lease). What
is left is the cost of traces sent to Langfuse directly (the SDK): it counts against the
department's budget, beside LiteLLM's spend, in the actual, the forecast, the alerts and the
chargeback. Reads the daily metrics rows and the routed keys' daily spend: two queries.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from portal.days import utc_day, utc_day_of
from projects.models import ProjectMetricsDay

from . import periods
from .models import DailySpend

ZERO = Decimal(0)


@dataclass(frozen=True)
class Day:
    """One tuning project's UTC day."""

    project_id: int
    name: str
    department_id: int
    route_key: str  # the routed key's name ("" when the project is not routed)
    day: datetime.date
    cost: Decimal  # Langfuse's cost of the project's traces that day
    routed_spend: Decimal  # LiteLLM's spend of the routed key that day (already counted)

    @property
    def counted(self) -> Decimal:
        """What counts against the department's budget: the cost LiteLLM has not counted."""
        return max(self.cost - self.routed_spend, ZERO)


@dataclass
class ProjectCost:
    name: str
    cost: Decimal
    routed: bool  # traces routed from a LiteLLM key: that key's spend is not counted again
    route_key: str
    routed_spend: Decimal = ZERO
    counted: Decimal = ZERO


def _routed_from(routed_at, step) -> datetime.date | None:
    if routed_at is not None:
        return utc_day(routed_at)
    if isinstance(step, dict) and step.get("result") == "routed" and step.get("at"):
        return utc_day_of(step["at"])
    return None


def days(start: datetime.date, end: datetime.date, department=None, departments=None) -> list[Day]:
    """Every project day in [start, end) with a Langfuse cost (of ``department``, or of
    ``departments``, if given)."""
    qs = ProjectMetricsDay.objects.filter(day__gte=start, day__lt=end, cost__gt=0)
    if department is not None:
        qs = qs.filter(project__department=department)
    if departments is not None:
        qs = qs.filter(project__department__in=departments)
    rows = list(
        qs.values_list(
            "project",
            "project__name",
            "project__department",
            "project__route_key",
            "project__route_key__name",
            "project__routed_at",
            "project__steps__routing",
            "day",
            "cost",
        ).order_by("day", "project")
    )
    routed = {}  # project id → (key id, first routed day)
    for pid, _n, _d, key_id, _k, routed_at, step, _day, _c in rows:
        since = _routed_from(routed_at, step) if key_id else None
        if since is not None:
            routed[pid] = (key_id, since)
    spend: dict[tuple[int, datetime.date], Decimal] = {}
    if routed:
        spend = {
            (key_id, day): total
            for key_id, day, total in DailySpend.objects.filter(
                key__in={k for k, _s in routed.values()}, day__gte=start, day__lt=end
            )
            .values_list("key", "day")
            .annotate(total=Sum("spend"))
            .order_by()
        }
    out = []
    for pid, name, dept_id, _key, key_name, _r, _s, day, cost in rows:
        key, since = routed.get(pid, (None, None))
        subtract = spend.get((key, day), ZERO) if key and day >= since else ZERO
        out.append(Day(pid, name, dept_id, (key_name or "") if key else "", day, cost, subtract))
    return out


def total(found: Iterable[Day], month: datetime.date) -> Decimal:
    """The counted Langfuse cost of ``month`` among ``found``."""
    return sum((d.counted for d in found if periods.month_start(d.day) == month), ZERO)


def by_department_month(
    start: datetime.date, end: datetime.date, departments=None
) -> dict[tuple, Decimal]:
    """{(department id, month): counted Langfuse cost} for the months in [start, end)."""
    out: dict[tuple, Decimal] = {}
    for d in days(start, end, departments=departments):
        if d.counted:
            key = (d.department_id, periods.month_start(d.day))
            out[key] = out.get(key, ZERO) + d.counted
    return out


def per_project(found: Iterable[Day], month: datetime.date) -> list[ProjectCost]:
    """``month``'s projects, most costly first."""
    projects: dict[int, ProjectCost] = {}
    for d in found:
        if periods.month_start(d.day) != month:
            continue
        p = projects.setdefault(d.project_id, ProjectCost(d.name, ZERO, False, d.route_key))
        p.cost += d.cost
        p.routed_spend += d.routed_spend
        p.counted += d.counted
        p.routed = p.routed or bool(d.route_key)
        p.route_key = p.route_key or d.route_key
    return sorted(projects.values(), key=lambda p: (-p.cost, p.name))


def add_to_daily(series: list[dict], found: Iterable[Day]) -> list[dict]:
    """Add the counted cost to a month's daily series (``reports.daily_series``), in place."""
    extra: dict[str, Decimal] = {}
    for d in found:
        extra[d.day.isoformat()] = extra.get(d.day.isoformat(), ZERO) + d.counted
    running = ZERO
    for point in series:
        running += extra.get(point["day"], ZERO)
        if point["spend"] is not None:
            point["spend"] = round(point["spend"] + float(extra.get(point["day"], ZERO)), 2)
            point["cumulative"] = round(point["cumulative"] + float(running), 2)
    return series


def department_month(department, month: datetime.date) -> tuple[list[ProjectCost], Decimal]:
    """The department's projects with Langfuse cost in ``month``; and the cost counted."""
    found = days(month, periods.next_month(month), department)
    return per_project(found, month), total(found, month)
