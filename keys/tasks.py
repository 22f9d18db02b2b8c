"""Celery tasks: provisioning with retries, and the scheduled lifecycle jobs."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from approvals.lifecycle import Status
from approvals.tasks import retry_countdown, run_provisioning
from portal.integrations.errors import IntegrationError, Unavailable

from . import extensions, reconcile, services
from .models import KeyExtension, VirtualKey

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_key(self, key_id: int) -> None:
    """Provision one virtual key in LiteLLM."""
    run_provisioning(self, VirtualKey, key_id, services.provision)


@shared_task(bind=True, acks_late=True, max_retries=None)
def extend_key(self, extension_id: int) -> None:
    """Move an approved extension's key to its new expiry in LiteLLM and in the portal."""
    run_provisioning(self, KeyExtension, extension_id, extensions.apply)


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
def reconcile_keys() -> int:
    """Report drift between the portal and LiteLLM. Returns the number of findings."""
    return len(reconcile.reconcile().findings)


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


def resume_blocks(cutoff) -> int:
    """Suspended keys still not blocked in LiteLLM and untouched since ``cutoff``: their
    block's retry message was lost; ended keys whose deletion in LiteLLM is not confirmed
    (``services._end``), likewise (Redis restarted, or the worker holding the retry died); and
    requests cancelled mid-provisioning whose clean-up (``purge_key``) was never confirmed.
    The registry's ``resume`` hook for keys, run by ``approvals.tasks.resume_stalled``, so a
    leaver's key is blocked within minutes, not at the next daily run."""
    due = list(
        VirtualKey.objects.filter(
            status=Status.SUSPENDED, blocked_at__isnull=True, updated_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for pk in due:
        block_suspended_key.delay(pk)
    # Ended with LiteLLM's deletion not confirmed and its retry lost; or cancelled after its
    # provisioning started (a leaver's request) with its clean-up message lost.
    unconfirmed = Q(steps__purge=services.PURGE_PENDING)
    cancelled_mid_way = Q(status=Status.CANCELLED, attempts__gt=0) & (
        Q(steps__purge__isnull=True) | ~Q(steps__purge="done")
    )
    purges = list(
        VirtualKey.objects.filter(
            unconfirmed | cancelled_mid_way, updated_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for pk in purges:
        purge_key.delay(pk)
    repairs = list(
        VirtualKey.objects.filter(
            steps__rotation=services.ROTATION_INTERRUPTED, updated_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for pk in repairs:  # an interrupted rotation whose repair message was lost
        repair_rotation.delay(pk)
    return len(due) + len(purges) + len(repairs)


@shared_task(bind=True, acks_late=True, max_retries=None)
def repair_rotation(self, key_id: int) -> str:
    """Put LiteLLM back as the portal holds the key after an interrupted rotation; retried
    while LiteLLM fails, then left marked for the stalled-work sweep."""
    try:
        return services.repair_rotation(key_id)
    except IntegrationError as exc:
        if self.request.retries >= settings.PROVISION_MAX_RETRIES:
            log.error("rotation repair failed; the sweep retries it", extra={"key": key_id})
            return "failed"
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task
def revoke_suspended_keys() -> int:
    """Daily: retry blocks still pending, then revoke keys suspended past the grace period."""
    from . import leavers

    for key_id in leavers.unblocked_marks():
        block_suspended_key.delay(key_id)
    return leavers.revoke_lapsed()
