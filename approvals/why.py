"""Why a request waits, and why it waits for this approver: the decision page says which rule
of the department's policy kept it from auto-approval and routed it to each stage."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from portal.templatetags.portal_ui import money_text
from tenants.models import User

from . import engine, registry
from .models import ApproverKind, Condition, RequestStage


def _condition(rule: dict, facts: dict) -> str:
    threshold = rule.get("threshold")
    condition = rule["condition"]
    if condition == Condition.BUDGET_ABOVE:
        return _("its budget is over USD %(limit)s") % {"limit": money_text(threshold)}
    if condition == Condition.PREMIUM_MODEL:
        models = sorted(set(facts.get("models") or []) & set(rule.get("premium_models") or []))
        return _("it asks for premium models (%(models)s)") % {"models": ", ".join(models)}
    if condition == Condition.RETENTION_ABOVE:
        return _("its retention is over %(limit)s days") % {"limit": threshold}
    if condition == Condition.SERVICE_ACCOUNT:
        return _("it is for a service account")
    return _("the policy sends every request there")


def not_auto_approved(obj, facts: dict) -> list[str]:
    """The auto-approval rule's verdict on this request, in words (today's thresholds)."""
    kind = registry.kind_of(obj)
    dept = obj.department
    if kind is None or not kind.auto_approval:
        return [_("Requests of this kind are always decided by a person.")]
    if not (dept.auto_approve_max_budget > 0 and dept.auto_approve_max_lifetime_days > 0):
        return [_("The department's policy has no auto-approval: every request is decided.")]
    reasons = []
    budget, days = facts.get("budget"), facts.get("lifetime_days")
    if budget is not None and Decimal(budget) > dept.auto_approve_max_budget:
        reasons.append(
            _("Its budget, USD %(asked)s, is over the auto-approval limit of USD %(limit)s.")
            % {"asked": money_text(budget), "limit": money_text(dept.auto_approve_max_budget)}
        )
    if days is not None and int(days) > dept.auto_approve_max_lifetime_days:
        reasons.append(
            _("Its lifetime, %(asked)s days, is over the auto-approval limit of %(limit)s days.")
            % {"asked": days, "limit": dept.auto_approve_max_lifetime_days}
        )
    return reasons


def stage_reason(stage: RequestStage, facts: dict) -> str:
    return _("Stage “%(stage)s”: %(why)s.") % {
        "stage": stage.name,
        "why": _condition(stage.rule, facts),
    }


def your_place(stage: RequestStage | None, obj, user: User) -> str | None:
    """Whose place the viewer decides in at the current stage, by the rule that chose them."""
    if stage is None:  # a request without stages: its manager, else the leads, decide
        if not obj.can_decide(user):
            return None
        if getattr(obj, "approver_id", None) == user.pk:
            return _("You decide as the requester's manager.")
        if user.is_lead_of(obj.department):
            return _("You decide as a lead of the department.")
        if user.is_infra:
            return _("You decide as a member of the platform team (infra).")
        return _("You stand in for an approver who delegated their approvals to you.")
    counted = engine.counted_for(stage, obj, user)
    if counted is None:
        return None
    if counted.pk != user.pk:
        return _("You stand in for %(who)s, who delegated their approvals to you.") % {
            "who": counted
        }
    rule = stage.rule
    approver = rule.get("approver")
    if approver == ApproverKind.MANAGER and getattr(obj, "approver_id", None) == user.pk:
        return _("You decide as the requester's manager.")
    if approver in (ApproverKind.MANAGER, ApproverKind.LEADS) and user.is_lead_of(obj.department):
        return _("You decide as a lead of the department.")
    if approver == ApproverKind.GROUP and rule.get("group_id") in (user.entra_groups or []):
        return _("You decide as a member of the approvers' Entra group.")
    if approver == ApproverKind.PERSON and rule.get("person_id") == user.pk:
        return _("The policy names you as this stage's approver.")
    if approver == ApproverKind.INFRA:
        return _("You decide as a member of the platform team (infra).")
    return _(
        "You decide as the stage's fallback: its own approvers could not be found, or it was "
        "escalated."
    )


def context(obj, user: User) -> dict:
    kind = registry.kind_of(obj)
    facts = kind.facts(obj) if kind is not None else {}
    stages = list(engine.stages_for(obj))
    reasons = not_auto_approved(obj, facts)
    reasons += [
        stage_reason(s, facts) for s in stages if s.rule.get("condition") != Condition.ALWAYS
    ]
    current = next((s for s in stages if s.state == "active"), None)
    return {"why_waits": reasons, "your_place": your_place(current, obj, user)}
