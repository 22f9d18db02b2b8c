"""Infra is told when a tuning project waits for manual fulfilment."""

from __future__ import annotations

from django.utils.translation import gettext as _

from approvals.mail import on_commit
from tenants.models import User


def manual_fulfilment_needed(obj) -> None:
    infra = list(User.objects.filter(is_infra=True, is_active=True).values_list("email", flat=True))
    on_commit(
        "projects/email/manual",
        infra,
        {"obj": obj},
        webhook=lambda: _("Tuning project '%(name)s' needs manual fulfilment.") % {"name": obj},
        department=obj.department,
    )
