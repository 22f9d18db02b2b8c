"""Leavers: what happens to the keys of someone who left a department.

The directory sync calls :func:`offboard` inside its transaction. Active keys move to
*suspended* at once (suspended_at set, blocked_at not yet: "marked for blocking"); the
LiteLLM block happens after the commit and, when LiteLLM is down, is retried by a task; a
retry lost with the broker's queue is picked up by the stalled-work sweep
(``keys.tasks.resume_blocks``) and the daily job, so it is never skipped. Within
``LEAVER_GRACE_DAYS`` a lead of the key's department can unblock it if the owner is back in the
department; after that the daily job revokes (deletes) it.
"""

from __future__ import annotations

import contextlib
import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import registry
from approvals.lifecycle import Status
from portal import audit
from portal.integrations.errors import IntegrationError, NotFound
from portal.integrations.litellm import LiteLLMClient

from . import notify
from .models import VirtualKey

BLOCKED = audit.action("virtualkey.blocked")

log = logging.getLogger(__name__)


def grace_days() -> int:
    return int(getattr(settings, "LEAVER_GRACE_DAYS", 30))


# --- suspend (in the sync's transaction) ----------------------------------------------------
def suspend(key: VirtualKey, *, actor, now=None) -> None:
    """Stop an active key now, in the caller's transaction: it is blocked in LiteLLM after the
    commit (retried); a lead can unblock it within the grace period, then it is revoked."""
    key.transition(
        Status.SUSPENDED,
        allowed_from=[Status.ACTIVE],
        actor=actor,
        suspended_at=now or timezone.now(),
        blocked_at=None,
    )
    # robust: a failure here must not look like a failure of the committed change.
    transaction.on_commit(lambda pk=key.pk: block_or_retry(pk), robust=True)


def offboard(user, *, reason: str, departments=(), actor=None) -> dict:
    """Suspend a leaver's active personal keys (their open requests of every kind are
    cancelled by ``approvals.leavers``, their tuning projects end in ``projects.leavers``).

    Runs in the caller's transaction; LiteLLM is called after the commit. Returns what was
    done: ``{"keys": [aliases]}``.
    """
    now = timezone.now()
    keys = []
    personal = VirtualKey.objects.filter(requester=user, status=Status.ACTIVE).exclude(
        kind=VirtualKey.Kind.SERVICE  # team-owned: outlives its requester
    )
    for key in personal.select_related("department"):
        try:
            suspend(key, actor=actor, now=now)
        except ValidationError:
            continue
        keys.append(key)
    if keys:
        notify.owner_left(user, keys, [], notify.affected(departments, keys), reason=reason)
    return {"keys": [k.alias for k in keys]}


def on_member_left(sender, *, user, reason: str, departments=(), actor=None, **kwargs) -> dict:
    return offboard(user, reason=reason, departments=departments, actor=actor)


# --- block (after commit; retried) ----------------------------------------------------------
def block(key_id: int) -> str:
    """Block a suspended key in LiteLLM, once. Raises IntegrationError if LiteLLM fails."""
    with transaction.atomic():
        key = VirtualKey.objects.select_for_update(of=("self",)).get(pk=key_id)
        if key.status != Status.SUSPENDED or key.blocked_at:
            return "nothing to do"
        if key.litellm_key_id:
            client = LiteLLMClient.from_settings(changed_by="portal:directory-sync")
            with contextlib.suppress(NotFound):  # gone in LiteLLM: refused anyway
                client.block_key(key.litellm_key_id)
        key.blocked_at = timezone.now()
        key.save(update_fields=["blocked_at", "updated_at"])
        audit.record(BLOCKED, key, after={"blocked_at": key.blocked_at})
        return "blocked"


def block_or_retry(key_id: int) -> None:
    """Block now; if LiteLLM does not answer, hand the key to the retrying task."""
    try:
        block(key_id)
    except Exception as exc:  # LiteLLM down, refused or not configured: retry, never skip
        log.warning("block failed, will retry", extra={"key": key_id, "error": str(exc)})
        retry = registry.task(VirtualKey, "block")
        retry.apply_async((key_id,), countdown=settings.PROVISION_RETRY_BASE_SECONDS)


def unblocked_marks() -> list[int]:
    """Keys suspended but not yet blocked in LiteLLM (the sweep retries these)."""
    return list(
        VirtualKey.objects.filter(status=Status.SUSPENDED, blocked_at__isnull=True).values_list(
            "pk", flat=True
        )
    )


# --- unblock (a lead, within the grace period) ----------------------------------------------
def unblock_refusal(key: VirtualKey, user) -> str:
    """Why ``user`` may not unblock ``key`` now ("" when they may)."""
    if key.status != Status.SUSPENDED:
        return _("Only a suspended key can be unblocked.")
    if not (user.is_infra or user.is_lead_of(key.department)):
        return _("Only a lead of the key's department can unblock it.")
    if key.suspended_at and timezone.now() > key.suspended_at + datetime.timedelta(
        days=grace_days()
    ):
        return _("The grace period is over.")
    if key.expires_at and key.expires_at <= timezone.now():
        return _("The key has expired.")
    owner = key.requester
    if not owner.is_active or not owner.is_member_of(key.department):
        return _("The owner is not back in the department.")
    return ""


def unblock(key: VirtualKey, *, actor, request=None) -> None:
    with transaction.atomic():
        key = (
            VirtualKey.objects.select_for_update(of=("self",))
            .select_related("department", "requester")
            .get(pk=key.pk)
        )
        if not (actor.is_infra or actor.is_lead_of(key.department)):
            raise PermissionDenied
        refusal = unblock_refusal(key, actor)
        if refusal:
            raise ValidationError(refusal)
        if key.litellm_key_id and key.blocked_at:
            client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
            client.unblock_key(key.litellm_key_id)
        key.transition(
            Status.ACTIVE,
            allowed_from=[Status.SUSPENDED],
            actor=actor,
            request=request,
            suspended_at=None,
            blocked_at=None,
        )


# --- end of the grace period (daily) ----------------------------------------------------------
def revoke_lapsed() -> int:
    """Revoke (delete in LiteLLM) keys still suspended after the grace period."""
    from .services import _end

    cutoff = timezone.now() - datetime.timedelta(days=grace_days())
    count = 0
    for pk in VirtualKey.objects.filter(
        status=Status.SUSPENDED, suspended_at__lte=cutoff
    ).values_list("pk", flat=True):

        def still_lapsed(key: VirtualKey) -> None:
            if key.status != Status.SUSPENDED or key.suspended_at > cutoff:
                raise ValidationError("unblocked meanwhile")

        try:
            _end(pk, Status.REVOKED, actor=None, check=still_lapsed)
            count += 1
        except ValidationError:
            continue
        except IntegrationError as exc:
            log.warning("revoke postponed", extra={"key": pk, "error": str(exc)})
    return count
