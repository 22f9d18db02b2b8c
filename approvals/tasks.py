"""Celery for every kind of request: the provisioning run with its retry policy, the sweep
that resumes lost work over the registry, and the periodic approval jobs (SLAs, reviews)."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal import metrics
from portal.integrations.errors import IntegrationError, Unavailable

from . import mail, registry
from .lifecycle import Status

log = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Exponential backoff for a service that is down: base, 2×, 4×… capped at 10 minutes."""
    return min(settings.PROVISION_RETRY_BASE_SECONDS * 2**retries, 600)


def run_provisioning(task, model, pk: int, provision) -> None:
    """Run ``provision(pk)`` for a Celery task: a service that is down → retry with backoff;
    refused, or still down after the last retry → *failed*, for infra to see and retry."""
    with metrics.observe_provisioning(model._meta.model_name) as attempt:
        try:
            provision(pk)
        except Unavailable as exc:
            retries = task.request.retries
            if retries < settings.PROVISION_MAX_RETRIES:
                delay = retry_countdown(retries)
                log.warning("service unavailable, retrying", extra={"pk": pk, "in_s": delay})
                attempt["outcome"] = "retry"
                raise task.retry(exc=exc, countdown=delay) from exc
            attempt["outcome"] = "failed"
            fail(model.objects.get(pk=pk), exc)
        except IntegrationError as exc:
            attempt["outcome"] = "failed"
            fail(model.objects.get(pk=pk), exc)


def fail(obj, exc: Exception) -> None:
    try:
        obj.mark_failed(str(exc))  # under the row lock; refused if it moved on meanwhile
    except ValidationError:
        return
    mail.provisioning_failed(obj)
    log.error("provisioning failed", extra={"object": str(obj), "error": str(exc)})


@shared_task
def resume_stalled() -> int:
    """Enqueue again what was approved but is not moving: a lost message or a killed worker.

    Safe because every provisioning step is idempotent; a duplicate run finds its work done.
    Every registered kind, then each kind's own lost work (``Kind.resume``).
    """
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.PROVISION_STALL_SECONDS)
    count = 0
    for kind in registry.KINDS.values():
        task = kind.tasks.get("provision")
        if task is None:
            continue
        stalled = kind.model.objects.filter(
            status__in=[Status.APPROVED, Status.PROVISIONING], updated_at__lt=cutoff
        ).values_list("pk", flat=True)
        for pk in stalled:
            task.delay(pk)
            count += 1
    for kind in registry.KINDS.values():
        if kind.resume is not None:
            count += kind.resume(cutoff)
    return count


@shared_task
def remind_expiring() -> int:
    """One reminder per active request of a kind that expires, REMIND_DAYS_BEFORE_EXPIRY days
    before it ends."""
    soon = timezone.now() + datetime.timedelta(days=settings.REMIND_DAYS_BEFORE_EXPIRY)
    count = 0
    for kind in registry.KINDS.values():
        if not kind.expires:
            continue
        model = kind.model
        due = model.objects.filter(
            status=Status.ACTIVE, expires_at__lte=soon, reminded_at__isnull=True
        )
        for obj in due.select_related("requester"):
            model.objects.filter(pk=obj.pk).update(reminded_at=timezone.now())
            mail.expiring_soon(obj)
            count += 1
    return count


def _when(now: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(now) if now else None


@shared_task
def sweep_slas(now: str | None = None) -> dict:
    """``now`` (ISO 8601) lets a test or a replay set the clock; the schedule passes none."""
    from . import sla

    return sla.sweep(_when(now))


@shared_task
def sweep_reviews(now: str | None = None) -> dict:
    from . import reviews

    return reviews.sweep(_when(now))
