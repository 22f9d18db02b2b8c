"""Applying policy files: what differs from what is live is written as the department's
auto-approval thresholds (audited) and a new policy version (``policies.record_version``,
audited with who applied it and the commit id). People are found by e-mail."""

from __future__ import annotations

from django.db import transaction

from portal import audit
from tenants.models import Department, User

from . import policies
from .models import Policy, PolicyStage
from .policy_files import diff, live_document

THRESHOLDS_APPLIED = policies.THRESHOLDS_CHANGED


def _person(email: str | None) -> User | None:
    return User.objects.filter(email__iexact=email).first() if email else None


def stage_from_document(policy: Policy | None, position: int, stage: dict) -> PolicyStage:
    """An (unsaved) stage as the file describes it: the live model, so its ``rule()`` is the
    one a request would copy at submit."""
    approvers = stage["approvers"]
    return PolicyStage(
        policy=policy,
        position=position,
        name=stage["name"],
        approver=approvers["kind"],
        group_id=approvers.get("group", ""),
        person=_person(approvers.get("person")),
        quorum=stage["quorum"],
        quorum_n=stage["quorum_n"],
        condition=stage["condition"],
        threshold=stage["threshold"],
        premium_models=list(stage["premium_models"]),
        reminder_hours=stage["sla"]["reminder_hours"],
        escalate_hours=stage["sla"]["escalate_hours"],
        expire_days=stage["sla"]["expire_days"],
        fallback=_person(stage["fallback"]),
    )


@transaction.atomic
def apply(documents: dict[str, dict], *, actor: User | None, commit: str, via: str) -> list[dict]:
    """Write what differs from what is live: the auto-approval thresholds (audited) and the
    stages as a new policy version (``record_version``, audited with the actor and commit).
    Equal departments are not touched. Requests in flight keep the stages they copied."""
    source = {"commit": commit, "applied_via": via}
    applied = []
    for slug in sorted(documents):
        planned = documents[slug]
        department = Department.objects.select_for_update().get(slug=slug)
        changes = diff(live_document(department), planned)
        if not changes:
            continue
        entry = {"department": slug, "changes": changes, "version": None}
        fields = ["auto_approve_max_budget", "auto_approve_max_lifetime_days"]
        before = audit.snapshot(department, fields)
        department.auto_approve_max_budget = planned["auto_approve"]["max_budget"]
        department.auto_approve_max_lifetime_days = planned["auto_approve"]["max_lifetime_days"]
        after = audit.snapshot(department, fields)
        if before != after:
            department.save(update_fields=[*fields, "updated_at"])
            audit.record(
                THRESHOLDS_APPLIED,
                department,
                actor=actor,
                before=before,
                after={**after, **source},
            )
        stages_changed = any(not c["path"].startswith("auto_approve") for c in changes)
        if stages_changed:
            policy, _ = Policy.objects.get_or_create(department=department)
            policy = Policy.objects.select_for_update().get(pk=policy.pk)
            policy.distinct_approvers = planned["distinct_approvers"]
            policy.save(update_fields=["distinct_approvers", "updated_at"])
            policy.stages.all().delete()
            for position, stage in enumerate(planned["stages"], start=1):
                stage_from_document(policy, position, stage).save()
            version = policies.record_version(policy, actor=actor, source=source)
            entry["version"] = version.version if version else policy.version
        applied.append(entry)
    return applied
