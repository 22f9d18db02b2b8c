"""Celery tasks: provisioning with retries, and the scheduled lifecycle jobs."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.integrations.errors import IntegrationError, Unavailable

from . import notify, reconcile, services
from .lifecycle import Status
from .models import VirtualKey

log = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Exponential backoff for a service that is down: base, 2×, 4×… capped at 10 minutes."""
    return min(settings.PROVISION_RETRY_BASE_SECONDS * 2**retries, 600)


def run_provisioning(task, model, pk: int, provision) -> None:
    """Run ``provision(pk)`` for a Celery task: a service that is down → retry with backoff;
    refused, or still down after the last retry → *failed*, for infra to see and retry."""
    try:
        provision(pk)
    except Unavailable as exc:
        retries = task.request.retries
        if retries < settings.PROVISION_MAX_RETRIES:
            delay = retry_countdown(retries)
            log.warning("service unavailable, retrying", extra={"pk": pk, "in_s": delay})
            raise task.retry(exc=exc, countdown=delay) from exc
        _fail_obj(model.objects.get(pk=pk), exc)
    except IntegrationError as exc:
        _fail_obj(model.objects.get(pk=pk), exc)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_key(self, key_id: int) -> None:
    """Provision one virtual key in LiteLLM."""
    run_provisioning(self, VirtualKey, key_id, services.provision)


def _fail_obj(obj, exc: Exception) -> None:
    try:
        obj.mark_failed(str(exc))  # under the row lock; refused if it moved on meanwhile
    except ValidationError:
        return
    notify.provisioning_failed(obj)
    log.error("provisioning failed", extra={"object": str(obj), "error": str(exc)})


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
            notify.expiring_soon(obj)
            count += 1
    return count


@shared_task
def reconcile_keys() -> int:
    """Report drift between the portal and LiteLLM. Returns the number of findings."""
    return len(reconcile.reconcile().findings)


@shared_task
def resume_stalled() -> int:
    """Enqueue again what was approved but is not moving: a lost message or a killed worker.

    Safe because every provisioning step is idempotent; a duplicate run finds its work done.
    """
    from .models import TuningProject

    cutoff = timezone.now() - datetime.timedelta(seconds=settings.PROVISION_STALL_SECONDS)
    count = 0
    for model, task in ((VirtualKey, provision_key), (TuningProject, provision_project)):
        stalled = model.objects.filter(
            status__in=[Status.APPROVED, Status.PROVISIONING], updated_at__lt=cutoff
        ).values_list("pk", flat=True)
        for pk in stalled:
            task.delay(pk)
            count += 1
    # Ended automatic projects still in Langfuse (a lost teardown message).
    leftover = TuningProject.objects.filter(
        status__in=[Status.EXPIRED, Status.REVOKED],
        fulfilment=TuningProject.Fulfilment.AUTOMATIC,
        torn_down_at__isnull=True,
        updated_at__lt=cutoff,
    ).values_list("pk", flat=True)
    for pk in leftover:
        teardown_project.delay(pk)
        count += 1
    return count


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
