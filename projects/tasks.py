"""Celery tasks of tuning projects: provisioning (with the engine's retries), teardown,
expiry, metrics, and the registry's ``resume`` hook for lost teardowns."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from approvals.lifecycle import Status
from approvals.tasks import retry_countdown, run_provisioning
from portal.integrations.errors import Unavailable

from . import metrics
from . import services as projects
from .models import TuningProject


def resume_teardowns(cutoff) -> int:
    """Ended automatic projects still in Langfuse (a lost teardown message): the registry's
    ``resume`` hook for tuning projects, called by ``approvals.tasks.resume_stalled``."""
    leftover = TuningProject.objects.filter(
        status__in=[Status.EXPIRED, Status.REVOKED],
        fulfilment=TuningProject.Fulfilment.AUTOMATIC,
        torn_down_at__isnull=True,
        updated_at__lt=cutoff,
    ).values_list("pk", flat=True)
    for pk in leftover:
        teardown_project.delay(pk)
    return len(leftover)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_project(self, project_id: int) -> None:
    """Provision one tuning project in Langfuse."""
    run_provisioning(self, TuningProject, project_id, projects.provision)


@shared_task(bind=True, acks_late=True, max_retries=None)
def teardown_project(self, project_id: int) -> None:
    try:
        projects.teardown(project_id)
    except Unavailable as exc:
        delay = retry_countdown(self.request.retries)
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task
def expire_projects() -> int:
    """End every active tuning project past its lease; automatic ones are deleted by a worker."""
    due = TuningProject.objects.filter(status=Status.ACTIVE, expires_at__lte=timezone.now())
    for project in due:
        projects.request_teardown(project, status=Status.EXPIRED)
    return len(due)


@shared_task
def pull_project_metrics() -> int:
    return metrics.pull_all_metrics()
