"""Disabling an identity: its owner, a lead of its department or infra stops the trust at once
(the exchange re-reads the identity under the same row lock, so no key is minted afterwards);
the run keys still live are deleted from LiteLLM by a worker once the change is committed."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.integrations.errors import NotFound

from . import services
from .models import PipelineExchange, PipelineIdentity
from .requests import Status

log = logging.getLogger(__name__)

# Anything that may already be (or become) trusted; a pending request is cancelled instead.
DISABLEABLE = [Status.APPROVED, Status.PROVISIONING, Status.FAILED, Status.ACTIVE]


def may_disable(identity: PipelineIdentity, user) -> bool:
    return bool(
        user.is_authenticated
        and (
            identity.requester_id == user.pk
            or user.is_infra
            or user.is_lead_of(identity.department)
        )
    )


def disable(identity: PipelineIdentity, *, actor, request=None, reason: str = "") -> None:
    """Active (or on its way) → revoked, checked under the row lock and audited as
    ``pipelineidentity.revoked`` (declared with the lifecycle's actions); raises
    ``ValidationError`` when it is not in a state to disable, ``PermissionDenied`` when the
    actor may not."""

    def check() -> None:
        if not may_disable(identity, actor):
            raise PermissionDenied

    with transaction.atomic():
        identity.transition(
            Status.REVOKED,
            allowed_from=DISABLEABLE,
            actor=actor,
            request=request,
            check=check,
            ended_at=timezone.now(),
            last_error=reason[:2000],
        )
        live = identity.exchanges.live().count()
        log.info("pipeline identity disabled",
                 extra={"identity": identity.pk, "actor": actor.pk, "live_keys": live})  # fmt: skip
        from .tasks import remove_identity_keys

        pk = identity.pk
        transaction.on_commit(lambda: remove_identity_keys.delay(pk), robust=True)


def remove_keys(identity_id: int) -> int:
    """Delete every run key of a disabled identity from LiteLLM (keeping each key's spend on
    its exchange row), and anything else its LiteLLM user still holds. Under the identity's
    lock: an exchange that was minting meanwhile has committed its key first. Idempotent."""
    api = services.client()
    now = timezone.now()
    with transaction.atomic():
        identity = PipelineIdentity.objects.locked(identity_id)
        if identity.status != Status.REVOKED:
            return 0
        rows = list(
            identity.exchanges.select_for_update().filter(
                outcome=PipelineExchange.Outcome.ISSUED, key_removed_at__isnull=True
            )
        )
        for row in rows:
            with contextlib.suppress(NotFound):
                spend = (api.key_info(row.key_hash).get("info") or {}).get("spend")
                if spend is not None:
                    row.spend = Decimal(str(spend))
                api.delete_keys(keys=[row.key_hash])
            row.key_removed_at = now
            row.save(update_fields=["key_removed_at", "spend"])
        stray = services.delete_stray(api, identity)
    return len(rows) + len(stray)
