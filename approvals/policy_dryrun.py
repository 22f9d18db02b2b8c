"""The dry run of policy files over real requests: how each request of the last N days was
routed (recorded at submit: auto-approved, the stages it copied, or a single decision) and how
it would be routed under the files, with the same routing functions that route live requests
(``routing.auto_approves_under``, ``routing.applicable_rules``) and each kind's registered facts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tenants.models import Department, User

from . import engine, registry, routing
from .models import ApproverKind
from .policy_apply import stage_from_document

AUTO = "auto"
SINGLE = "single"


def _who(rule: dict, emails: dict[int, str]) -> str:
    kind = rule["approver"]
    if kind == ApproverKind.GROUP:
        return _("Entra group %(id)s") % {"id": rule.get("group_id") or "?"}
    if kind == ApproverKind.PERSON:
        return emails.get(rule.get("person_id"), "?")
    return {"leads": _("the leads"), "manager": _("the manager"), "infra": _("infra")}[kind]


def _route(rules: list[dict], emails: dict[int, str]) -> tuple[str, ...]:
    return tuple(f"{r['name']} ({_who(r, emails)})" for r in rules)


def describe(route) -> str:
    if route == AUTO:
        return _("auto-approval")
    if route == SINGLE:
        return _("a single decision (no stage)")
    return _(" then ").join(route)


def _planned_rules(document: dict) -> list[dict]:
    return [
        stage_from_document(None, position, stage).rule()
        for position, stage in enumerate(document["stages"], start=1)
    ]


def recorded_route(obj, emails: dict[int, str]):
    """How ``obj`` was routed at submit, from what it recorded."""
    if getattr(obj, "auto_approved", False):
        return AUTO
    rules = [stage.rule for stage in engine.stages_for(obj)]
    return _route(rules, emails) if rules else SINGLE


def planned_route(obj, kind: registry.Kind, department: Department, rules: list[dict], emails):
    """How ``obj`` would be routed at submit under ``department``'s thresholds and ``rules``:
    the order ``approvals.workflow.submit`` follows (auto-approval, else the applicable stages,
    else a single decision)."""
    if routing.auto_approves_under(obj, department, rules):
        return AUTO
    applicable = routing.applicable_rules(rules, kind.facts(obj))
    return _route(applicable, emails) if applicable else SINGLE


def sentence(count: int, was, would) -> str:
    values = {"n": count, "was": describe(was), "would": describe(would)}
    if would == AUTO:
        text = ngettext(
            "%(n)d request would have been auto-approved instead of going to %(was)s.",
            "%(n)d requests would have been auto-approved instead of going to %(was)s.",
            count,
        )
    elif was == AUTO:
        text = ngettext(
            "%(n)d request would have waited for %(would)s instead of being auto-approved.",
            "%(n)d requests would have waited for %(would)s instead of being auto-approved.",
            count,
        )
    elif would == SINGLE:
        text = ngettext(
            "%(n)d request would have gone to %(would)s instead of %(was)s.",
            "%(n)d requests would have gone to %(would)s instead of %(was)s.",
            count,
        )
    else:
        text = ngettext(
            "%(n)d request would have waited for %(would)s instead of %(was)s.",
            "%(n)d requests would have waited for %(would)s instead of %(was)s.",
            count,
        )
    return text % values


def dry_run(documents: dict[str, dict], *, days: int = 30, now: datetime | None = None) -> dict:
    """Every request of every registered kind submitted in the last ``days`` days in the
    departments the files cover, recorded route versus planned route, summed up."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    departments = {}
    rules = {}
    for slug, document in documents.items():
        department = Department.objects.filter(slug=slug).first()
        if department is None:
            continue
        # The file's thresholds on an unsaved copy: the model's own auto_approves() reads them.
        department.auto_approve_max_budget = document["auto_approve"]["max_budget"]
        department.auto_approve_max_lifetime_days = document["auto_approve"]["max_lifetime_days"]
        departments[department.pk] = department
        rules[department.pk] = _planned_rules(document)
    emails = dict(User.objects.exclude(email="").values_list("pk", "email"))
    requests, changed, pairs = 0, [], Counter()
    for label in sorted(registry.KINDS):
        kind = registry.KINDS[label]
        queryset = (
            kind.model._default_manager.filter(
                department_id__in=list(departments), created_at__gte=since, created_at__lte=now
            )
            .exclude(status="draft")
            .select_related("department")
            .order_by("created_at", "pk")
        )
        for obj in queryset:
            requests += 1
            was = recorded_route(obj, emails)
            department = departments[obj.department_id]
            would = planned_route(obj, kind, department, rules[obj.department_id], emails)
            if was == would:
                continue
            pairs[(was, would)] += 1
            changed.append(
                {
                    "kind": label,
                    "id": obj.pk,
                    "department": department.slug,
                    "submitted_at": obj.created_at.isoformat(),
                    "was": describe(was),
                    "would": describe(would),
                }
            )
    ordered = sorted(
        pairs.items(), key=lambda item: (-item[1], describe(item[0][0]), describe(item[0][1]))
    )
    summary = [sentence(count, was, would) for (was, would), count in ordered]
    return {
        "days": days,
        "since": since.isoformat(),
        "requests": requests,
        "changed": len(changed),
        "summary": summary,
        "requests_changed": changed,
    }


def headline(result: dict) -> str:
    values = {"n": result["requests"], "days": result["days"], "changed": result["changed"]}
    text = ngettext(
        "Dry run: %(n)d request in the last %(days)d days, %(changed)d routed differently.",
        "Dry run: %(n)d requests in the last %(days)d days, %(changed)d routed differently.",
        result["requests"],
    )
    return text % values
