"""Soft (alert-only) budgets per department, model and key: budget against actual on the
lead's page, alerts at the same thresholds, audited; never sent to LiteLLM."""

from decimal import Decimal

import pytest
from django.core import mail

from costs import alerts
from costs.ingest import upsert_daily
from costs.models import BudgetAlert, SoftBudget
from portal.models import AuditEvent

from . import test_costs_support as support
from .test_costs_support import DAY, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
URL = "/costs/departments/alpha/soft-budget/"


def test_lead_sets_soft_budgets_and_sees_budget_against_actual(
    costs_org, client, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFY_WEBHOOK_URL = ""
    upsert_daily(
        [
            row(key="hash-a1", spend="12"),
            row(key="hash-a1", model="claude-3-5-sonnet", provider="bedrock", spend="3"),
        ]
    )
    client.force_login(costs_org["lead_a"])
    assert client.post(URL, {"scope": "model", "model": "gpt-4o-mini", "monthly_budget": "10"})
    key = costs_org["key_a"]
    client.post(URL, {"scope": "key", "key": key.litellm_key_id[-8:], "monthly_budget": "100"})
    client.post(URL, {"scope": "department", "monthly_budget": "30"})
    assert SoftBudget.objects.count() == 3
    assert AuditEvent.objects.filter(action="costs.soft_budget_set").count() == 3
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    assert 'id="soft-budgets"' in html and "120 %" in html and "15 %" in html and "50 %" in html
    # Bad input is a message, not a row (and never a 500): a key of another department.
    response = client.post(
        URL, {"scope": "key", "key": costs_org["key_b"].litellm_key_id[-8:], "monthly_budget": "5"}
    )
    assert response.status_code == 302 and SoftBudget.objects.count() == 3
    assert client.post(URL, {"scope": "model", "monthly_budget": "x"}).status_code == 302
    assert (
        client.post("/costs/departments/beta/soft-budget/", {"scope": "department"}).status_code
        == 404
    )

    with django_capture_on_commit_callbacks(execute=True):
        fired = alerts.evaluate(DAY)
    soft = [a for a in fired if a.subject.startswith("soft:")]
    model_alerts = [a for a in soft if a.scope == "model"]
    assert sorted(a.threshold for a in model_alerts if a.kind == "actual") == [80, 100]
    assert not [a for a in soft if a.scope == "key"]  # 12 % of 100: nothing
    assert any("gpt-4o-mini" in m.body and "soft budget" in m.body for m in mail.outbox)
    again = alerts.evaluate(DAY)  # once per threshold and month
    assert not [a for a in again if a.subject.startswith("soft:")]
    assert BudgetAlert.objects.filter(subject__startswith="soft:model").count() >= 2

    # 0 removes a soft budget.
    client.post(URL, {"scope": "model", "model": "gpt-4o-mini", "monthly_budget": "0"})
    assert not SoftBudget.objects.filter(scope="model").exists()
    assert Decimal("100") == SoftBudget.objects.get(scope="key").monthly_budget
