"""Celery tasks: provisioning an approved identity, and the sweep of expired run keys."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from portal.integrations.errors import Unavailable

from . import disabling, services
from .models import PipelineIdentity, SeenToken
from .requests import Status, run_provisioning

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def provision_identity(self, identity_id: int) -> None:
    run_provisioning(self, PipelineIdentity, identity_id, services.provision)


@shared_task
def sweep_pipeline_keys() -> dict:
    """Remove run keys past their expiry from LiteLLM (keeping their spend), reconcile each
    active identity's keys, and forget token ids that can no longer be replayed."""
    result = {"removed": 0, "stray": 0}
    try:
        result["removed"] = services.remove_expired()
        for identity in PipelineIdentity.objects.filter(status=Status.ACTIVE):
            result["stray"] += len(services.reconcile(identity))
        # Disabled identities whose keys were not all deleted yet (LiteLLM was down).
        for pk in disabled_with_keys():
            result["removed"] += disabling.remove_keys(pk)
    except Unavailable:
        log.warning("pipeline key sweep postponed: LiteLLM unavailable")
    result["forgotten"] = SeenToken.objects.filter(expires_at__lt=timezone.now()).delete()[0]
    return result


def disabled_with_keys() -> list[int]:
    return list(
        PipelineIdentity.objects.filter(
            status=Status.REVOKED,
            exchanges__outcome="issued",
            exchanges__key_removed_at__isnull=True,
        )
        .values_list("pk", flat=True)
        .distinct()
    )


@shared_task(bind=True, acks_late=True, max_retries=8)
def remove_identity_keys(self, identity_id: int) -> int:
    """After a disable: delete the identity's live keys from LiteLLM (retried while it is
    unavailable; the sweep catches what is left after that)."""
    try:
        return disabling.remove_keys(identity_id)
    except Unavailable as exc:
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from None
