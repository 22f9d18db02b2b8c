"""A department's approval policy over time, for its page: each version with who saved it,
when, and what changed from the version before, in words."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.models import Department

from .models import ApproverKind, Condition, PolicyVersion, Quorum

SHOWN = 10
# The parts of a stage a reader compares, with their names.
FIELDS = {
    "approver": gettext_lazy("approvers"),
    "group_id": gettext_lazy("Entra group"),
    "person_id": gettext_lazy("person"),
    "quorum": gettext_lazy("quorum"),
    "quorum_n": gettext_lazy("how many"),
    "condition": gettext_lazy("applies when"),
    "threshold": gettext_lazy("threshold"),
    "premium_models": gettext_lazy("premium models"),
    "reminder_hours": gettext_lazy("remind after (working hours)"),
    "escalate_hours": gettext_lazy("escalate after (working hours)"),
    "fallback_id": gettext_lazy("fallback approver"),
    "expire_days": gettext_lazy("expire after (working days)"),
}
CHOICES = {"approver": ApproverKind, "quorum": Quorum, "condition": Condition}


def _show(name: str, value) -> str:
    if value in (None, "", []):
        return "—"
    if name in CHOICES:
        return str(dict(CHOICES[name].choices).get(value, value))
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _stage(rule: dict) -> str:
    return _("%(approver)s, %(when)s") % {
        "approver": _show("approver", rule.get("approver")),
        "when": _show("condition", rule.get("condition")),
    }


def differences(before: PolicyVersion | None, after: PolicyVersion) -> list[str]:
    """What ``after`` changed, stage by stage (matched by name), in sentences."""
    if before is None:
        return [_("First version: %(n)d stage(s).") % {"n": len(after.snapshot)}]
    old = {r["name"]: r for r in before.snapshot}
    new = {r["name"]: r for r in after.snapshot}
    lines = []
    for name, rule in new.items():
        if name not in old:
            lines.append(
                _("Stage “%(name)s” added: %(what)s.") % {"name": name, "what": _stage(rule)}
            )
            continue
        for field, label in FIELDS.items():
            was, now = old[name].get(field), rule.get(field)
            if was != now and not (was in (None, "", []) and now in (None, "", [])):
                lines.append(
                    _("Stage “%(name)s”: %(field)s %(was)s → %(now)s.")
                    % {
                        "name": name,
                        "field": label,
                        "was": _show(field, was),
                        "now": _show(field, now),
                    }
                )
    lines += [_("Stage “%(name)s” removed.") % {"name": n} for n in old if n not in new]
    if [r["name"] for r in before.snapshot if r["name"] in new] != [
        r["name"] for r in after.snapshot if r["name"] in old
    ]:
        lines.append(_("Stages reordered."))
    if before.distinct_approvers != after.distinct_approvers:
        lines.append(
            _("Distinct people in each stage: on.")
            if after.distinct_approvers
            else _("Distinct people in each stage: off (one person may approve several stages).")
        )
    return lines or [_("Saved without a change to the stages.")]


def panel(department: Department, ctx: dict) -> dict:
    """The department page's last versions (one query, plus one for the version before the
    oldest shown, so its changes can be told too)."""
    versions = list(
        PolicyVersion.objects.filter(policy__department=department)
        .select_related("changed_by")
        .order_by("-version")[: SHOWN + 1]
    )
    rows = []
    for i, version in enumerate(versions[:SHOWN]):
        before = versions[i + 1] if i + 1 < len(versions) else None
        if before is None and version.version > 1:
            before = (
                PolicyVersion.objects.filter(
                    policy_id=version.policy_id, version__lt=version.version
                )
                .order_by("-version")
                .first()
            )
        rows.append({"version": version, "changes": differences(before, version)})
    return {"policy_versions": rows}


def link_policy_events(events) -> None:
    """The audit log links a policy's events to its department's page."""
    ids = {e.department_id for e in events if e.department_id}
    slugs = dict(Department.objects.filter(pk__in=ids).values_list("pk", "slug"))
    for event in events:
        if event.department_id in slugs:
            url = reverse("department_detail", args=[slugs[event.department_id]])
            event.link = f"{url}#policy-versions"
