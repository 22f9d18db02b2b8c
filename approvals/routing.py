"""Which stages of a department's policy a request goes through, whether the policy's
auto-approval rule approves it without anyone, and who approves each stage."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from tenants.models import User

from . import registry
from .models import ApproverKind, Condition, Policy, Quorum


def applies(rule: dict, facts: dict) -> bool:
    condition = rule["condition"]
    threshold = Decimal(rule["threshold"]) if rule.get("threshold") is not None else Decimal(0)
    if condition == Condition.BUDGET_ABOVE:
        return facts.get("budget") is not None and Decimal(facts["budget"]) > threshold
    if condition == Condition.PREMIUM_MODEL:
        return bool(set(facts.get("models") or []) & set(rule.get("premium_models") or []))
    if condition == Condition.RETENTION_ABOVE:
        days = facts.get("retention_days")
        return days is not None and Decimal(days) > threshold
    if condition == Condition.SERVICE_ACCOUNT:
        return bool(facts.get("service_account"))
    return True


def auto_approves(obj) -> bool:
    """The policy's first rule: a request of a kind that may be auto-approved, at or under the
    department's thresholds (budget and lifetime, read from the kind's facts), is approved
    without anyone, unless a stage's condition routes it to someone. Auto-approval stands in
    for the unconditional route (stages that apply ``always``), never for a conditional one."""
    policy = Policy.objects.filter(department_id=obj.department_id).first()
    stages = policy.snapshot()["stages"] if policy is not None else []
    return auto_approves_under(obj, obj.department, stages)


def auto_approves_under(obj, department, stages: list[dict]) -> bool:
    """``auto_approves`` with the thresholds of ``department`` and the stage rules given (the
    live ones, or a policy file's in a dry run)."""
    kind = registry.kind_of(obj)
    if kind is None or not kind.auto_approval:
        return False
    facts = kind.facts(obj)
    if facts.get("budget") is None or facts.get("lifetime_days") is None:
        return False
    if not department.auto_approves(budget=facts["budget"], lifetime_days=facts["lifetime_days"]):
        return False
    return not any(r["condition"] != Condition.ALWAYS and applies(r, facts) for r in stages)


def applicable_rules(stages: list[dict], facts: dict) -> list[dict]:
    """The stages a request with these facts goes through, in order."""
    return [r for r in stages if applies(r, facts)]


def resolve_approvers(obj, rule: dict, exclude: set[int] = frozenset()) -> list[User]:
    """Who decides this stage, fixed when the stage starts; never the requester, nor anyone in
    ``exclude`` (people already counted in an earlier stage)."""
    kind = rule["approver"]
    active = User.objects.filter(is_active=True)
    if kind == ApproverKind.MANAGER and getattr(obj, "approver_id", None):
        people = active.filter(pk=obj.approver_id)
    elif kind in (ApproverKind.MANAGER, ApproverKind.LEADS):
        people = active.filter(memberships__department=obj.department, memberships__role="lead")
    elif kind == ApproverKind.INFRA:
        people = active.filter(is_infra=True)
    elif kind == ApproverKind.GROUP:  # kept by the directory sync (``policies.approver_groups``)
        group = rule.get("group_id") or ""
        people = active.filter(entra_groups__contains=[group]) if group else active.none()
    else:
        people = active.filter(pk=rule.get("person_id"))
    found = list(people.exclude(pk=obj.requester_id).exclude(pk__in=exclude).distinct())
    if not found:  # nobody to ask: the stage's fallback, else infra
        found = list(fallback_approvers(obj, rule, exclude))
    return found


def fallback_approvers(obj, rule: dict, exclude: set[int] = frozenset()) -> models.QuerySet[User]:
    active = User.objects.filter(is_active=True).exclude(pk=obj.requester_id)
    active = active.exclude(pk__in=exclude)
    if rule.get("fallback_id"):
        return active.filter(pk=rule["fallback_id"])
    return active.filter(is_infra=True)


def required_approvals(rule: dict, approvers: int) -> int:
    if rule["quorum"] == Quorum.ALL:
        return max(approvers, 1)
    if rule["quorum"] == Quorum.N:
        return max(1, min(rule.get("quorum_n") or 1, approvers))
    return 1
