"""What a lead sees beside a request before deciding: the ask against the policy, the
requester's other keys and history, and (from apps that know about money) spend panels.

Spend lives in ``costs``, which sits above ``keys``: it registers a panel in
``keys.panels`` from its ``AppConfig.ready()`` instead of being imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from . import panels
from .lifecycle import Status
from .models import TuningProject, VirtualKey


@dataclass(frozen=True)
class PolicyCheck:
    label: str
    asked: object
    limit: object
    unit: str = ""

    @property
    def within(self) -> bool:
        return self.asked is None or self.limit is None or self.asked <= self.limit

    @property
    def over_by(self):
        return None if self.within else self.asked - self.limit

    @property
    def share(self) -> int | None:
        """The ask as a percentage of the limit."""
        if not self.limit or self.asked is None:
            return None
        return int(Decimal(self.asked) * 100 / Decimal(self.limit))


def policy_checks(obj) -> list[PolicyCheck]:
    dept = obj.department
    if isinstance(obj, VirtualKey):
        return [
            PolicyCheck(_("Budget (USD)"), obj.max_budget, dept.max_key_budget),
            PolicyCheck(_("Requests per minute"), obj.rpm_limit, dept.max_rpm),
            PolicyCheck(_("Tokens per minute"), obj.tpm_limit, dept.max_tpm),
            PolicyCheck(_("Lifetime (days)"), obj.lifetime_days, dept.max_key_lifetime_days),
        ]
    if isinstance(obj, TuningProject):
        return [
            PolicyCheck(_("Lifetime (days)"), obj.lifetime_days, dept.max_project_lifetime_days)
        ]
    return []


def disallowed_models(obj) -> list[str]:
    allowed = set(obj.department.allowed_models)
    return sorted(m for m in getattr(obj, "llm_models", None) or [] if m not in allowed)


def context(obj) -> dict:
    """Template context for the decision page. A bounded number of queries."""
    requester_keys = list(
        VirtualKey.objects.filter(
            requester_id=obj.requester_id,
            status__in=[Status.ACTIVE, Status.SUBMITTED, Status.APPROVED, Status.PROVISIONING],
        )
        .exclude(pk=obj.pk if isinstance(obj, VirtualKey) else None)
        .select_related("department")
        .order_by("-created_at")[:10]
    )
    history = list(
        type(obj)
        .objects.filter(requester_id=obj.requester_id)
        .exclude(pk=obj.pk)
        .exclude(status=Status.SUBMITTED)
        .select_related("decided_by")
        .order_by("-created_at")[:10]
    )
    ctx = {
        "checks": policy_checks(obj),
        "disallowed": disallowed_models(obj),
        "requester_keys": requester_keys,
        "history": history,
    }
    return panels.run(panels.DECISION, obj, ctx)
