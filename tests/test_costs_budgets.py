"""Department budgets reach LiteLLM; leads ask for more, infra decides."""

from decimal import Decimal

import pytest

from approvals.lifecycle import Status
from costs import budgets
from costs.models import BudgetRequest
from costs.tasks import apply_budget_request, push_department_budget
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

from .factories import after_commit

pytestmark = [pytest.mark.django_db, pytest.mark.litellm]


def team_budget(litellm, team_id):
    info = LiteLLMClient(litellm.base_url, litellm.master_key).team_info(team_id)
    team = info.get("team_info") or info
    return team.get("max_budget"), team.get("budget_duration")


def test_lead_asks_infra_approves_litellm_enforces(
    client, org, litellm, django_capture_on_commit_callbacks
):
    dept = org["a"]
    client.force_login(org["lead_a"])
    response = client.post(
        "/costs/departments/alpha/budget-request/",
        {"monthly_budget": "2500", "justification": "Pilot with the support team."},
    )
    assert response.status_code == 302
    req = BudgetRequest.objects.get()
    assert (req.status, req.previous_budget, req.monthly_budget) == (Status.SUBMITTED, 1000, 2500)

    # Leads cannot approve budgets, not even another lead of the department; infra can.
    assert client.post(f"/approvals/budgets/{req.pk}/", {"decision": "approve"}).status_code == 403
    client.force_login(org["infra"])
    assert "2500" in client.get("/approvals/").content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/approvals/budgets/{req.pk}/", {"decision": "approve", "comment": "ok"})
    assert len(after_commit(callbacks)) == 2  # decision mail, then the task
    apply_budget_request.apply(args=[req.pk])

    req.refresh_from_db()
    dept.refresh_from_db()
    assert req.status == Status.ACTIVE and dept.monthly_budget == Decimal("2500")
    assert team_budget(litellm, "portal-alpha") == (2500.0, "30d")
    event = AuditEvent.objects.get(action="department.budget_changed")
    assert (Decimal(event.before["monthly_budget"]), Decimal(event.after["monthly_budget"])) == (
        1000,
        2500,
    )


def test_infra_may_lower_when_approving(client, org, litellm):
    req = budgets.request_budget(
        org["a"], lead=org["lead_a"], monthly_budget=Decimal("5000"), justification="more"
    )
    client.force_login(org["infra"])
    client.post(f"/approvals/budgets/{req.pk}/", {"decision": "approve", "monthly_budget": "3000"})
    apply_budget_request.apply(args=[req.pk])
    org["a"].refresh_from_db()
    assert org["a"].monthly_budget == Decimal("3000")


def test_budget_edited_by_infra_is_pushed_to_litellm(org, litellm):
    dept = org["b"]
    assert push_department_budget.apply(args=[dept.pk]).get() == "created"
    dept.monthly_budget = Decimal("750")
    dept.save()
    assert push_department_budget.apply(args=[dept.pk]).get() == "updated"
    assert team_budget(litellm, "portal-beta") == (750.0, "30d")


def test_only_a_lead_of_the_department_can_ask(client, org):
    client.force_login(org["dev_a"])
    response = client.post("/costs/departments/alpha/budget-request/", {"monthly_budget": "1"})
    assert response.status_code == 404
    client.force_login(org["lead_b"])
    assert (
        client.post("/costs/departments/alpha/budget-request/", {"monthly_budget": "1"}).status_code
        == 404
    )
    assert not BudgetRequest.objects.exists()


def test_budget_request_is_sent_to_infra_who_decide_it(
    client, org, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(org["lead_a"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/costs/departments/alpha/budget-request/",
            {"monthly_budget": "2500", "justification": "Pilot with the support team."},
        )
    assert response.status_code == 302
    assert {r for m in mailoutbox for r in m.to} == {"infra@example.com"}
