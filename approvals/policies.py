"""Saving a policy: a new version, its snapshot kept, the change audited (before/after); and
the Entra groups policies name as approvers, for the directory sync."""

from __future__ import annotations

from django.db import transaction

from portal import audit

from .models import ApproverKind, Policy, PolicyStage, PolicyVersion, RequestStage
from .models import StageState as S

CHANGED = audit.action("policy.changed")
# A department's auto-approval thresholds (the API's policy PATCH, policy files).
THRESHOLDS_CHANGED = audit.action("department.policy_changed")


@transaction.atomic
def record_version(
    policy: Policy, *, actor, request=None, source: dict | None = None
) -> PolicyVersion | None:
    """Call after the policy and its stages were saved. Writes a new version only when the
    stages, or the distinct-people rule, differ from the last one. ``source`` (e.g. the commit
    a policy file was applied from) is kept in the audit row."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    last = policy.versions.first()
    stages = policy.snapshot()["stages"]
    distinct = policy.distinct_approvers
    if last is not None and last.snapshot == stages and last.distinct_approvers == distinct:
        return None
    policy.version += 1
    policy.save(update_fields=["version", "updated_at"])
    version = PolicyVersion.objects.create(
        policy=policy,
        version=policy.version,
        snapshot=stages,
        distinct_approvers=distinct,
        changed_by=actor,
    )
    before = None
    if last is not None:
        before = {
            "version": last.version,
            "distinct_approvers": last.distinct_approvers,
            "stages": last.snapshot,
        }
    audit.record(
        CHANGED,
        policy,
        actor=actor,
        request=request,
        before=before,
        after={
            "version": policy.version,
            "distinct_approvers": distinct,
            "stages": stages,
            **(source or {}),
        },
        department_id=policy.department_id,
    )
    return version


def approver_groups() -> list[str]:
    """Entra groups named as approvers by a policy's stage or by a stage of a request in
    flight (which keeps the rule it was submitted with): the directory sync reads their
    transitive members."""
    named = PolicyStage.objects.filter(approver=ApproverKind.GROUP).values_list(
        "group_id", flat=True
    )
    open_stages = RequestStage.objects.filter(
        state__in=[S.WAITING, S.ACTIVE], rule__approver=ApproverKind.GROUP
    ).values_list("rule__group_id", flat=True)
    return sorted({g for g in [*named, *open_stages] if g})
