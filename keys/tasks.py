"""Celery tasks: provisioning with retries, and the scheduled lifecycle jobs."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from approvals import mail
from approvals.lifecycle import Status
from approvals.tasks import retry_countdown, run_provisioning
from portal.integrations.errors import IntegrationError, Unavailable

from . import reconcile, services
from .models import VirtualKey

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_key(self, key_id: int) -> None:
    """Provision one virtual key in LiteLLM."""
    run_provisioning(self, VirtualKey, key_id, services.provision)


@shared_task
def expire_keys() -> int:
    """End every active key past its expiry (deleted in LiteLLM, which also expires it)."""
    count = 0
    due = VirtualKey.objects.filter(status=Status.ACTIVE, expires_at__lte=timezone.now())
    for pk in due.values_list("pk", flat=True):
        try:
            count += services.expire(pk)  # re-checked under the key's lock
        except Unavailable:
            log.warning("expiry postponed: LiteLLM unavailable", extra={"key": pk})
    return count


@shared_task(bind=True, acks_late=True, max_retries=None)
def purge_key(self, key_id: int) -> list[str]:
    """Delete from LiteLLM whatever a request that ended before going live left there."""
    try:
        return services.purge(key_id)
    except IntegrationError as exc:
        if self.request.retries >= settings.PROVISION_MAX_RETRIES:
            log.error("purge failed; reconcile will report it", extra={"key": key_id})
            return []
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task
def remind_expiring() -> int:
    """One reminder per key or tuning project, REMIND_DAYS_BEFORE_EXPIRY days before it ends."""
    from .models import TuningProject

    soon = timezone.now() + datetime.timedelta(days=settings.REMIND_DAYS_BEFORE_EXPIRY)
    count = 0
    for model in (VirtualKey, TuningProject):
        due = model.objects.filter(
            status=Status.ACTIVE, expires_at__lte=soon, reminded_at__isnull=True
        )
        for obj in due.select_related("requester"):
            model.objects.filter(pk=obj.pk).update(reminded_at=timezone.now())
            mail.expiring_soon(obj)
            count += 1
    return count


@shared_task
def reconcile_keys() -> int:
    """Report drift between the portal and LiteLLM. Returns the number of findings."""
    return len(reconcile.reconcile().findings)


def resume_teardowns(cutoff) -> int:
    """Ended automatic projects still in Langfuse (a lost teardown message): the registry's
    ``resume`` hook for tuning projects, called by ``approvals.tasks.resume_stalled``."""
    from .models import TuningProject

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
    from . import projects
    from .models import TuningProject

    run_provisioning(self, TuningProject, project_id, projects.provision)


@shared_task(bind=True, acks_late=True, max_retries=None)
def teardown_project(self, project_id: int) -> None:
    from . import projects

    try:
        projects.teardown(project_id)
    except Unavailable as exc:
        delay = retry_countdown(self.request.retries)
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task
def expire_projects() -> int:
    """End every active tuning project past its lease; automatic ones are deleted by a worker."""
    from . import projects
    from .models import TuningProject

    due = TuningProject.objects.filter(status=Status.ACTIVE, expires_at__lte=timezone.now())
    for project in due:
        projects.request_teardown(project, status=Status.EXPIRED)
    return len(due)


@shared_task
def pull_project_metrics() -> int:
    from . import projects

    return projects.pull_all_metrics()


@shared_task(bind=True, acks_late=True, max_retries=None)
def block_suspended_key(self, key_id: int) -> str:
    """Block a leaver's suspended key in LiteLLM; retried with backoff while LiteLLM is down.
    Out of retries, the key stays marked (suspended, not blocked) for the daily sweep."""
    from . import leavers

    try:
        return leavers.block(key_id)
    except IntegrationError as exc:
        retries = self.request.retries
        if retries < settings.PROVISION_MAX_RETRIES:
            delay = retry_countdown(retries)
            log.warning("block failed, retrying", extra={"key": key_id, "in_s": delay})
            raise self.retry(exc=exc, countdown=delay) from exc
        log.error("block failed, left for the sweep", extra={"key": key_id, "error": str(exc)})
        return "failed"


@shared_task
def revoke_suspended_keys() -> int:
    """Daily: retry blocks still pending, then revoke keys suspended past the grace period."""
    from . import leavers

    for key_id in leavers.unblocked_marks():
        block_suspended_key.delay(key_id)
    return leavers.revoke_lapsed()
