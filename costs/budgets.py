"""Department budgets: pushed to the department's LiteLLM team so LiteLLM enforces them, and
changed through "more budget" requests that infra approves."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from approvals import department_changes, workflow
from approvals.lifecycle import OPEN_STATUSES
from keys.services import ensure_team, team_id_for
from portal import audit
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department, User

from .models import BudgetRequest

BUDGET_CHANGED = audit.action("department.budget_changed")


def push_to_litellm(department: Department) -> str:
    """Make the LiteLLM team's ``max_budget`` (per 30 days) the department's monthly budget.

    The department's row is locked and re-read for the call, so of two pushes the last one
    sends the budget that is current then: LiteLLM ends up with what the portal holds."""
    with transaction.atomic():
        department = Department.objects.select_for_update().get(pk=department.pk)
        client = LiteLLMClient.from_settings(changed_by="portal:budgets")
        if ensure_team(client, department) == "created":
            return "created"  # made with the current budget
        budget = float(department.monthly_budget) if department.monthly_budget else None
        client.update_team(team_id_for(department), max_budget=budget, budget_duration="30d")
        return "updated"


class BudgetRequestRefused(ValueError):
    """A request that would change nothing, or a second one while the first still waits."""


def request_budget(
    department: Department, *, lead: User, monthly_budget: Decimal, justification: str, request=None
) -> BudgetRequest:
    # Under the department's row lock: of two requests sent at once, the second sees the first.
    with transaction.atomic():
        department = Department.objects.select_for_update().get(pk=department.pk)
        if department.monthly_budget is not None and monthly_budget == department.monthly_budget:
            raise BudgetRequestRefused(
                _("USD %(budget)s is already the monthly budget: ask for a different amount.")
                % {"budget": department.monthly_budget}
            )
        if BudgetRequest.objects.filter(department=department, status__in=OPEN_STATUSES).exists():
            raise BudgetRequestRefused(
                _("A budget request for this department is still waiting: wait for its decision.")
            )
        obj = BudgetRequest(
            requester=lead,
            department=department,
            monthly_budget=monthly_budget,
            previous_budget=department.monthly_budget,
            justification=justification,
            lifetime_days=0,  # a budget change does not expire
        )
        return workflow.submit(obj, request=request)


def set_budget(obj: BudgetRequest, department: Department) -> dict[str, str]:
    """The department's monthly budget becomes the approved one (audited if it changes)."""
    if department.monthly_budget != obj.monthly_budget:
        before = {"monthly_budget": department.monthly_budget}
        department.monthly_budget = obj.monthly_budget
        department.save(update_fields=["monthly_budget", "updated_at"])
        audit.record(
            BUDGET_CHANGED,
            department,
            actor=obj.decided_by,
            before=before,
            after={"monthly_budget": department.monthly_budget},
        )
    return {}


def apply(budget_request_id: int) -> None:
    """Set the department's budget, then LiteLLM's; a retry after a failure repeats both."""
    department_changes.apply(BudgetRequest, budget_request_id, set_budget, push_to_litellm)
