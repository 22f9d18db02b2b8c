"""Saving a policy: a new version, its snapshot kept, the change audited (before/after)."""

from __future__ import annotations

from django.db import transaction

from portal import audit

from .models import Policy, PolicyVersion

CHANGED = audit.action("policy.changed")


@transaction.atomic
def record_version(policy: Policy, *, actor, request=None) -> PolicyVersion | None:
    """Call after the policy and its stages were saved. Writes a new version only when the
    stages differ from the last one."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    last = policy.versions.first()
    stages = policy.snapshot()["stages"]
    if last is not None and last.snapshot == stages:
        return None
    policy.version += 1
    policy.save(update_fields=["version", "updated_at"])
    version = PolicyVersion.objects.create(
        policy=policy, version=policy.version, snapshot=stages, changed_by=actor
    )
    audit.record(
        CHANGED,
        policy,
        actor=actor,
        request=request,
        before={"version": last.version, "stages": last.snapshot} if last else None,
        after={"version": policy.version, "stages": stages},
        department_id=policy.department_id,
    )
    return version
