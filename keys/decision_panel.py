"""What the decision page shows about keys: a key's ask against the department's policy,
and, for every kind, the requester's current keys (``costs`` adds their spend)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from approvals.decision import PolicyCheck
from approvals.lifecycle import Status

from .models import KeyExtension, VirtualKey


def policy_checks(obj) -> list[PolicyCheck]:
    dept = obj.department
    if isinstance(obj, VirtualKey):
        return [
            PolicyCheck(_("Budget (USD)"), obj.max_budget, dept.max_key_budget),
            PolicyCheck(_("Requests per minute"), obj.rpm_limit, dept.max_rpm),
            PolicyCheck(_("Tokens per minute"), obj.tpm_limit, dept.max_tpm),
            PolicyCheck(_("Lifetime (days)"), obj.lifetime_days, dept.max_key_lifetime_days),
        ]
    if isinstance(obj, KeyExtension):
        return [
            PolicyCheck(_("Days added"), obj.lifetime_days, dept.max_key_lifetime_days),
            PolicyCheck(_("Budget (USD)"), obj.key.max_budget, dept.max_key_budget),
        ]
    return []


def panel(obj, ctx: dict) -> dict:
    requester_keys = list(
        VirtualKey.objects.filter(
            requester_id=obj.requester_id,
            status__in=[Status.ACTIVE, Status.SUBMITTED, Status.APPROVED, Status.PROVISIONING],
        )
        .exclude(pk=obj.pk if isinstance(obj, VirtualKey) else None)
        .select_related("department")
        .order_by("-created_at")[:10]
    )
    return {"checks": ctx["checks"] + policy_checks(obj), "requester_keys": requester_keys}
