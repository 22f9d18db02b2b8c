"""Department budgets reach LiteLLM; leads ask for more, infra decides."""

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection

from approvals.lifecycle import Status
from costs import budgets
from costs.models import BudgetRequest
from costs.tasks import apply_budget_request, push_department_budget
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

from .factories import after_commit, ask_budget

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
        {"budget-monthly_budget": "2500", "budget-justification": "Pilot with the support team."},
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
    req = ask_budget(org, "5000", "more")
    client.force_login(org["infra"])
    client.post(
        f"/approvals/budgets/{req.pk}/",
        {"decision": "approve", "monthly_budget": "3000", "comment": "3000 first."},
    )
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
    response = client.post(
        "/costs/departments/alpha/budget-request/", {"budget-monthly_budget": "1"}
    )
    assert response.status_code == 404
    client.force_login(org["lead_b"])
    assert (
        client.post(
            "/costs/departments/alpha/budget-request/", {"budget-monthly_budget": "1"}
        ).status_code
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
            {
                "budget-monthly_budget": "2500",
                "budget-justification": "Pilot with the support team.",
            },
        )
    assert response.status_code == 302
    assert {r for m in mailoutbox for r in m.to} == {"infra@example.com"}


def lead_asks(client, amount: str, why: str = "More work."):
    return client.post(
        "/costs/departments/alpha/budget-request/",
        {"budget-monthly_budget": amount, "budget-justification": why},
        follow=True,
    )


def test_a_request_that_changes_nothing_is_refused(client, org):
    client.force_login(org["lead_a"])
    page = lead_asks(client, "1000.00").content.decode()  # alpha's budget is 1000
    assert "is already the monthly budget" in page
    assert not BudgetRequest.objects.exists()


def test_a_second_request_waits_for_the_first(client, org):
    client.force_login(org["lead_a"])
    lead_asks(client, "2500")
    page = lead_asks(client, "3000").content.decode()
    assert "still waiting" in page
    assert list(BudgetRequest.objects.values_list("monthly_budget", flat=True)) == [2500]
    # The page says the request waits instead of offering the form again.
    assert 'name="budget-monthly_budget"' not in page
    assert "is waiting for the platform team" in page


def test_the_form_is_not_prefilled_and_its_ids_are_its_own(client, org):
    client.force_login(org["lead_a"])
    page = client.get("/costs/departments/alpha/").content.decode()
    assert 'id="id_budget-monthly_budget"' in page
    assert page.count('id="id_monthly_budget"') <= 1  # the soft-budget form's field
    field = re.search(r'<input[^>]*name="budget-monthly_budget"[^>]*>', page).group(0)
    assert "value=" not in field
    assert "Now USD 1000" in page


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one(org):
    """Two leads' requests released together: the department's row lock lets one through."""
    barrier = threading.Barrier(2)
    outcomes = []

    def ask(amount):
        barrier.wait()
        try:
            budgets.request_budget(
                org["a"], lead=org["lead_a"], monthly_budget=Decimal(amount), justification="x"
            )
            outcomes.append("sent")
        except budgets.BudgetRequestRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(a,)) for a in ("2000", "3000")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "sent"]
    assert BudgetRequest.objects.count() == 1
