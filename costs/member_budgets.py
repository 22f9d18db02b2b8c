"""Member budgets: set by a lead (or infra), soft (alerts only) or hard (enforced by LiteLLM).

A hard budget is pushed to LiteLLM as the member's budget in the department's team
(``POST /team/member_update`` with ``max_budget_in_team`` and ``budget_duration`` 30d):
LiteLLM then refuses that user's calls through any key of the team once their spend in the
team reaches it ("Budget has been exceeded! User=… in Team=…"; checked against the proxy in
tests/test_costs_member_budgets.py). LiteLLM counts the member's spend in the team over 30-day
windows from when the budget is set, not calendar months; the portal's alerts use calendar
months. A soft budget, or none, clears LiteLLM's (an explicit null, merge-patch style).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from keys.services import ensure_membership, ensure_team, ensure_user, team_id_for
from portal import audit
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department, User

from .models import MemberBudget

MEMBER_BUDGET_SET = audit.action("costs.member_budget_set")

log = logging.getLogger(__name__)

# Sent (department=, user=) when a budget LiteLLM enforces, or enforced, changed: CostsConfig
# connects the push to LiteLLM after commit (this module does not import the tasks).
member_budget_changed = Signal()


@transaction.atomic
def set_member_budget(
    department: Department,
    user: User,
    amount: Decimal | None,
    *,
    enforced: bool,
    actor: User | None,
    request=None,
) -> MemberBudget | None:
    """Set (or, with no amount or 0, remove) one member's monthly budget. Audited; a change
    that LiteLLM must know about is pushed after commit."""
    current = (
        MemberBudget.objects.select_for_update().filter(department=department, user=user).first()
    )
    before = (
        {"monthly_budget": current.monthly_budget, "enforced": current.enforced}
        if current
        else None
    )
    was_enforced = bool(current and current.enforced)
    amount = amount.quantize(Decimal("0.01")) if amount is not None else None
    if not amount:
        if current:
            current.delete()
        obj, after = None, None
    else:
        obj = current or MemberBudget(department=department, user=user)
        obj.monthly_budget = amount
        obj.enforced = enforced
        obj.save()
        after = {"monthly_budget": obj.monthly_budget, "enforced": obj.enforced}
    audit.record(
        MEMBER_BUDGET_SET,
        user,
        actor=actor,
        request=request,
        before=before,
        after=after,
        department_id=department.pk,
        object_repr=f"{user} · {department}",
    )
    if was_enforced or (obj is not None and obj.enforced):
        member_budget_changed.send(MemberBudget, department=department, user=user)
    return obj


def member_update(client: LiteLLMClient, team_id: str, user_id: str, budget: float | None):
    """The member's budget in the team, reset every 30 days, or none (null clears)."""
    return client.team_member_update(
        team_id,
        user_id,
        max_budget_in_team=budget,
        budget_duration="30d" if budget is not None else None,
    )


def push(department_id: int, user_id: int) -> str:
    """Make LiteLLM's budget for the member equal to the portal's (hard) budget, or clear it."""
    department = Department.objects.get(pk=department_id)
    user = User.objects.get(pk=user_id)
    if not user.entra_oid:
        return "no LiteLLM user"
    budget = MemberBudget.objects.filter(department=department, user=user).first()
    amount = float(budget.monthly_budget) if budget and budget.enforced else None
    client = LiteLLMClient.from_settings(changed_by="portal:member-budgets")
    team_id = team_id_for(department)
    ensure_team(client, department)
    ensure_user(client, user)
    ensure_membership(client, team_id, user)
    member_update(client, team_id, user.entra_oid, amount)
    if budget is not None:
        MemberBudget.objects.filter(pk=budget.pk).update(synced_at=timezone.now(), sync_error="")
    log.info("member budget pushed", extra={"team": team_id, "enforced": amount is not None})
    return "enforced" if amount is not None else "cleared"
