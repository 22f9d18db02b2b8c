"""Tuning projects' Langfuse cost on the lead's page: routed traces are LiteLLM spend seen
again (shown, not added); unrouted ones are spend outside LiteLLM."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from costs import langfuse_costs
from costs.ingest import upsert_daily
from projects.models import ProjectMetricsDay, TuningProject

from . import test_costs_support as support
from .test_costs_support import DAY, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org


def project(org, name, **extra):
    return TuningProject.objects.create(
        requester=org["dev_a"],
        department=org["a"],
        name=name,
        purpose="p",
        justification="j",
        lifetime_days=7,
        status=Status.ACTIVE,
        **extra,
    )


def test_routed_cost_is_not_added_and_direct_cost_is_outside_litellm(costs_org, client):
    upsert_daily([row(key="hash-a1", spend="10")])
    routed = project(costs_org, "routed", route_key=costs_org["key_a"], routed_at=timezone.now())
    direct = project(costs_org, "direct")
    for p, cost in ((routed, "4.00"), (direct, "1.50")):
        ProjectMetricsDay.objects.create(project=p, day=DAY, cost=Decimal(cost))
    # Another month does not count.
    ProjectMetricsDay.objects.create(
        project=direct, day=DAY - datetime.timedelta(days=40), cost=Decimal("9")
    )
    projects, outside = langfuse_costs.department_month(costs_org["a"], DAY.replace(day=1))
    assert [(p.name, p.cost, p.routed) for p in projects] == [
        ("routed", Decimal("4.00"), True),
        ("direct", Decimal("1.50"), False),
    ]
    assert outside == Decimal("1.50")
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    assert 'id="kpi-actual">USD 10.00' in html  # LiteLLM spend, nothing added to it
    assert 'id="langfuse-outside">USD 1.50' in html
    assert "already in LiteLLM spend (routed from key key-hash-a1)" in html
