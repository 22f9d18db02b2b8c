"""Infra's rights in the Django admin, derived from the Entra infra group (``is_infra``).

Infra is staff, not superuser: it may look at every model, and edit only the raw data the
portal has no page for (departments with their policies, memberships, member budgets, users'
names and active flag, schedules). Requests, keys and projects change only through the
workflow, never in the admin. A break-glass superuser (``createsuperuser``) stays possible;
its sign-ins are audited.
"""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from portal import audit

SUPERUSER_SIGNED_IN = audit.action("user.superuser_signed_in")

EDITABLE = {
    "tenants.department",
    "tenants.membership",
    "tenants.user",
    "costs.memberbudget",
    "approvals.policy",  # approval stages (a new audited version on each save)
    "approvals.policystage",
    "approvals.chataccount",
    "api.serviceidentity",
    "django_celery_beat.periodictask",
    "django_celery_beat.intervalschedule",
    "django_celery_beat.crontabschedule",
}


class InfraPermissionBackend(BaseBackend):
    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if not (user_obj.is_active and getattr(user_obj, "is_infra", False)):
            return False
        app_label, _, codename = perm.partition(".")
        action, _, model = codename.partition("_")
        if action == "view":
            return True
        return action in ("add", "change", "delete") and f"{app_label}.{model}" in EDITABLE

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return bool(user_obj.is_active and getattr(user_obj, "is_infra", False))


def audit_superuser_sign_in(sender, request, user, **kwargs) -> None:
    """Break-glass use is rare and must be visible: every superuser sign-in is audited."""
    if user.is_superuser:
        audit.record(SUPERUSER_SIGNED_IN, user, actor=user, request=request)
