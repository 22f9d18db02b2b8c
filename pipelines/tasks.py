"""Celery tasks: provisioning an approved identity, and the sweep of expired run keys."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from portal.integrations.errors import Unavailable

from . import services
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
    except Unavailable:
        log.warning("pipeline key sweep postponed: LiteLLM unavailable")
    result["forgotten"] = SeenToken.objects.filter(expires_at__lt=timezone.now()).delete()[0]
    return result
