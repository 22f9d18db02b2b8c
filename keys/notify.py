"""Who is told that a leaver's keys (or tuning projects) were stopped, beyond a request's own
notifications (``approvals.mail``)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from approvals.mail import on_commit


def owner_left(user, keys, projects, departments, *, reason: str) -> None:
    """Tell the leads of the affected departments and infra that a leaver's keys are suspended
    and their tuning projects ended."""
    from tenants.models import User

    leads = User.objects.filter(
        memberships__department__in=departments, memberships__role="lead", is_active=True
    )
    infra = User.objects.filter(is_infra=True, is_active=True)
    recipients = sorted({u.email for u in [*leads, *infra] if u.pk != user.pk})
    on_commit(
        "keys/email/owner_left",
        recipients,
        {
            "person": user,
            "keys": keys,
            "projects": projects,
            "reason": reason,
            "grace_days": getattr(settings, "LEAVER_GRACE_DAYS", 30),
        },
        webhook=lambda: (
            _(
                "%(person)s left (%(reason)s): %(keys)s key(s) suspended, "
                "%(projects)s tuning project(s) ended."
            )
            % {"person": user, "reason": reason, "keys": len(keys), "projects": len(projects)}
        ),
        department=departments[0] if len(departments) == 1 else None,
    )


def affected(departments, objs) -> list:
    """The departments a leaver was in, and those of what was stopped."""
    found = {d.pk: d for d in departments}
    for obj in objs:
        found.setdefault(obj.department_id, obj.department)
    return list(found.values())
