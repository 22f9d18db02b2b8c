"""What the approval engine needs to know about tuning projects, registered in
``ProjectsConfig.ready()``: the facts stage conditions read, the Celery tasks that provision
and tear down, and how an access review ends a lease."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from approvals import registry
from approvals.lifecycle import Status
from portal.templatetags.portal_ui import days_text

from . import tasks
from .models import TuningProject
from .services import request_teardown


def project_facts(project: TuningProject) -> dict:
    return {
        "budget": None,
        "lifetime_days": project.lifetime_days,
        "models": [],
        "retention_days": project.retention_days,
        "service_account": False,
    }


def project_summary(project: TuningProject) -> str:
    """What a tuning project request asks, in the approval queue."""
    retention = (
        _("retention %(days)s") % {"days": days_text(project.retention_days)}
        if project.retention_days
        else ""
    )
    return " · ".join(filter(None, [project.name, retention, days_text(project.lifetime_days)]))


def live_projects(departments):
    return TuningProject.objects.filter(status=Status.ACTIVE, department__in=departments)


def end_project(project: TuningProject, *, actor) -> None:
    """Langfuse has no suspended state: either way, a tuning project's lease ends."""
    with transaction.atomic():
        request_teardown(project, status=Status.REVOKED, actor=actor)


def register() -> None:
    registry.register(
        TuningProject,
        facts=project_facts,
        slug="project",
        summary=project_summary,
        expires=True,
        tasks={"provision": tasks.provision_project, "cleanup": tasks.teardown_project},
        resume=tasks.resume_teardowns,
    )
    registry.register_reviewable(
        TuningProject, live=live_projects, revoke=end_project, suspend=end_project
    )
