"""Tuning projects' Langfuse cost beside LiteLLM spend, without counting anything twice.

Langfuse computes a cost for the traces it receives (``ProjectMetricsDay.cost``, pulled daily).
A project whose traces are routed from a LiteLLM virtual key (``route_key``) receives the
traces of calls LiteLLM has already charged: that cost is LiteLLM spend seen again and is shown
as such, never added. A project without routing gets traces sent to Langfuse directly; their
cost is not in LiteLLM's numbers and is shown as spend outside LiteLLM.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from projects.models import ProjectMetricsDay

from . import periods


@dataclass
class ProjectCost:
    name: str
    cost: Decimal
    routed: bool  # True: already in LiteLLM spend (traces routed from a LiteLLM key)
    route_key: str


def department_month(department, month: datetime.date) -> tuple[list[ProjectCost], Decimal]:
    """The department's projects with Langfuse cost in ``month``; and the cost outside LiteLLM."""
    rows = (
        ProjectMetricsDay.objects.filter(
            project__department=department,
            day__gte=month,
            day__lt=periods.next_month(month),
        )
        .values("project", "project__name", "project__route_key__name", "project__routed_at")
        .annotate(cost=Sum("cost"))
        .order_by("-cost", "project__name")
    )
    projects = [
        ProjectCost(
            name=r["project__name"],
            cost=r["cost"] or Decimal(0),
            routed=bool(r["project__route_key__name"] and r["project__routed_at"]),
            route_key=r["project__route_key__name"] or "",
        )
        for r in rows
    ]
    outside = sum((p.cost for p in projects if not p.routed), Decimal(0))
    return projects, outside
