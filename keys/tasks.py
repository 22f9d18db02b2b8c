"""Celery tasks: provisioning with retries, and the scheduled lifecycle jobs."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from portal.integrations.errors import IntegrationError, Unavailable

from . import notify, services
from .lifecycle import Status
from .models import VirtualKey

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_key(self, key_id: int) -> None:
    """Provision one key. LiteLLM unavailable → retry with backoff; refused → failed for infra."""
    try:
        services.provision(key_id)
    except Unavailable as exc:
        retries = self.request.retries
        if retries < settings.PROVISION_MAX_RETRIES:
            delay = min(settings.PROVISION_RETRY_BASE_SECONDS * 2**retries, 600)
            log.warning("LiteLLM unavailable, retrying", extra={"key": key_id, "in_s": delay})
            raise self.retry(exc=exc, countdown=delay) from exc
        _fail(key_id, exc)
    except IntegrationError as exc:
        _fail(key_id, exc)


def _fail(key_id: int, exc: Exception) -> None:
    key = VirtualKey.objects.get(pk=key_id)
    if key.status in (Status.APPROVED, Status.PROVISIONING):
        key.mark_failed(str(exc))
        notify.provisioning_failed(key)
    log.error("provisioning failed", extra={"key": key_id, "error": str(exc)})


@shared_task
def expire_keys() -> int:
    """End every active key past its expiry (deleted in LiteLLM, which also expires it)."""
    count = 0
    for key in VirtualKey.objects.filter(status=Status.ACTIVE, expires_at__lte=timezone.now()):
        try:
            services.expire(key)
            count += 1
        except Unavailable:
            log.warning("expiry postponed: LiteLLM unavailable", extra={"key": key.pk})
    return count


@shared_task
def remind_expiring() -> int:
    """One reminder per key, REMIND_DAYS_BEFORE_EXPIRY days before it ends."""
    soon = timezone.now() + datetime.timedelta(days=settings.REMIND_DAYS_BEFORE_EXPIRY)
    keys = VirtualKey.objects.filter(
        status=Status.ACTIVE, expires_at__lte=soon, reminded_at__isnull=True
    )
    count = 0
    for key in keys.select_related("requester"):
        VirtualKey.objects.filter(pk=key.pk).update(reminded_at=timezone.now())
        notify.expiring_soon(key)
        count += 1
    return count


@shared_task
def reconcile_keys() -> int:
    """Report drift between the portal and LiteLLM. Returns the number of findings."""
    return len(services.reconcile().findings)


@shared_task
def resume_stalled() -> int:
    """Enqueue again what was approved but is not moving: a lost message or a killed worker.

    Safe because every provisioning step is idempotent; a duplicate run finds its work done.
    """
    cutoff = timezone.now() - datetime.timedelta(seconds=settings.PROVISION_STALL_SECONDS)
    stalled = VirtualKey.objects.filter(
        status__in=[Status.APPROVED, Status.PROVISIONING], updated_at__lt=cutoff
    ).values_list("pk", flat=True)
    for key_id in stalled:
        provision_key.delay(key_id)
    return len(stalled)
