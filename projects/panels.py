"""What tuning projects add to pages of other apps, registered in ``ProjectsConfig.ready()``:
infra's operations page and home card, reconcile, and the department page."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from approvals.decision import PolicyCheck
from approvals.lifecycle import Status

from . import reconcile
from .models import TuningProject

# Waiting for infra: failed, or to be fulfilled or deleted by hand in Langfuse.
MANUAL_TEARDOWN = Q(
    fulfilment=TuningProject.Fulfilment.MANUAL, ended_at__isnull=False, torn_down_at__isnull=True
)


def operations(user, ctx: dict) -> dict:
    needs_infra = Q(status__in=[Status.FAILED, Status.MANUAL]) | MANUAL_TEARDOWN
    projects = TuningProject.objects.filter(needs_infra).select_related("department", "requester")
    return {"projects": projects[: settings.PAGE_SIZE]}


def home_infra(user, ctx: dict) -> dict:
    return {
        "failed_projects": TuningProject.objects.filter(status=Status.FAILED).count(),
        "manual": TuningProject.objects.filter(Q(status=Status.MANUAL) | MANUAL_TEARDOWN).count(),
    }


def reconcile_findings() -> list[dict]:
    """Langfuse is optional: without it there is nothing to compare."""
    return reconcile.reconcile_findings() if settings.LANGFUSE_HOST else []


def decision(obj, ctx: dict) -> dict:
    """A tuning project's ask against the department's policy, on the decision page."""
    if not isinstance(obj, TuningProject):
        return {}
    limit = obj.department.max_project_lifetime_days
    return {"checks": [*ctx["checks"], PolicyCheck(_("Lifetime (days)"), obj.lifetime_days, limit)]}
