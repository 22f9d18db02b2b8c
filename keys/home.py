"""Home-page panels about keys: what waits for me, and what waits for infra (failures,
manual fulfilments, drift). What waits for my decision: ``approvals.home``."""

from __future__ import annotations

import datetime

from django.utils import timezone

from approvals.lifecycle import Status

from . import panels
from .models import ReconcileRun, VirtualKey

EXPIRING_DAYS = 14
SHOWN = 5
# A request still on its way: waiting for a decision, for set-up or for infra's hands.
WAITING = [Status.SUBMITTED, Status.APPROVED, Status.PROVISIONING, Status.MANUAL]


def developer(user) -> dict | None:
    if not user.memberships_once():
        return None
    soon = timezone.now() + datetime.timedelta(days=EXPIRING_DAYS)
    mine = VirtualKey.objects.filter(requester=user).select_related("department")
    data = {
        "pending": list(mine.filter(status__in=WAITING).order_by("-created_at")[:SHOWN]),
        "failed": list(mine.filter(status=Status.FAILED).order_by("-updated_at")[:SHOWN]),
        "expiring": list(
            mine.filter(status=Status.ACTIVE, expires_at__lte=soon).order_by("expires_at")[:SHOWN]
        ),
        "expiring_days": EXPIRING_DAYS,
    }
    # Other kinds of request (tuning projects) add theirs; newest first, as many as shown.
    data = panels.run(panels.HOME_DEVELOPER, user, data)
    data["pending"] = sorted(data["pending"], key=lambda r: r.created_at, reverse=True)[:SHOWN]
    data["failed"] = sorted(data["failed"], key=lambda r: r.updated_at, reverse=True)[:SHOWN]
    return data


def infra(user) -> dict | None:
    if not user.is_infra:
        return None
    run = ReconcileRun.objects.first()
    data = {
        "failed_keys": VirtualKey.objects.filter(status=Status.FAILED).count(),
        "failed_projects": 0,
        "manual": 0,  # the tuning projects' app fills these (keys.panels.HOME_INFRA)
        "reconcile": run,
        "drift": len(run.findings) if run else 0,
    }
    return panels.run(panels.HOME_INFRA, user, data)
