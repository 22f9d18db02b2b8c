"""Leavers: a person who left has their active tuning projects ended (their open requests
are cancelled by ``approvals.leavers``, their keys suspended by ``keys.leavers``)."""

from __future__ import annotations

from approvals.lifecycle import Status
from keys import notify

from .models import TuningProject
from .services import request_teardown


def on_member_left(sender, *, user, reason: str, departments=(), actor=None, **kwargs) -> dict:
    """Receiver of ``tenants.signals.member_left``, inside the directory sync's transaction."""
    projects = list(TuningProject.objects.filter(requester=user, status=Status.ACTIVE))
    for project in projects:
        request_teardown(project, status=Status.REVOKED, actor=actor)
    if projects:
        where = notify.affected(departments, projects)
        notify.owner_left(user, [], projects, where, reason=reason)
    return {"projects": [p.project_name for p in projects]}
