"""Extending a live key in place: ask (a request through the approval engine), then apply
(the same LiteLLM key's expiry moves; the secret stays).

The owner asks for N more days. The new expiry is fixed when asked (N days after the key's
current expiry) and must stay within the department's longest key lifetime counted from now.
The department's auto-approval rule decides it as it decides a new key with that lifetime and
the key's budget; otherwise its approvers do, stage by stage. Once approved, a worker updates
LiteLLM (``/key/update`` with the ``duration`` left until the new expiry: LiteLLM sets the
key's ``expires`` from it) and the portal's ``expires_at``, under the key's row lock like a
rotation or revocation. Repeating the worker sends the same end date again.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import workflow
from approvals.lifecycle import OPEN_STATUSES, Status
from portal import audit
from portal.integrations.litellm import LiteLLMClient
from portal.templatetags.portal_ui import money_text
from tenants.models import User

from .models import KeyExtension, VirtualKey

EXTENDED = audit.action("virtualkey.extended")

log = logging.getLogger(__name__)


def summary(ext: KeyExtension) -> str:
    """What an extension asks, in the approval queue."""
    return _("%(key)s · +%(days)s days · USD %(budget)s") % {
        "key": ext.key.name,
        "days": ext.lifetime_days,
        "budget": money_text(ext.key.max_budget),
    }


def new_expiry(key: VirtualKey, days: int, now: datetime.datetime | None = None):
    """N days after the key's current expiry (after now, for a key already past it)."""
    now = now or timezone.now()
    return max(key.expires_at or now, now) + datetime.timedelta(days=days)


def refusal(key: VirtualKey, user: User, days: int | None = None) -> str:
    """Why ``user`` cannot extend ``key`` by ``days`` now; "" when they can."""
    if key.requester_id != user.pk:
        return _("Only the key's owner can extend it.")
    if key.status != Status.ACTIVE:
        return _("This key is %(status)s and cannot be extended.") % {
            "status": key.get_status_display()
        }
    if KeyExtension.objects.filter(key=key, status__in=OPEN_STATUSES).exists():
        return _("An extension of this key is already waiting.")
    if days is not None:
        limit = key.department.max_key_lifetime_days
        latest = timezone.now() + datetime.timedelta(days=limit)
        if days < 1 or new_expiry(key, days) > latest:
            return _(
                "Policy: a key may run at most %(limit)s days from today; "
                "ask for fewer days or request a new key."
            ) % {"limit": limit}
    return ""


def request_extension(
    key: VirtualKey, *, actor: User, days: int, justification: str, request=None
) -> KeyExtension:
    """Submit an extension of ``key``; auto-approved (and applied after commit) when the
    department's rule allows it, else it waits for the approvers."""
    reason = refusal(key, actor, days)
    if reason:
        raise PermissionDenied if key.requester_id != actor.pk else ValidationError(reason)
    ext = KeyExtension(
        key=key,
        requester=actor,
        department=key.department,
        lifetime_days=days,
        justification=justification,
        previous_expires_at=key.expires_at,
        new_expires_at=new_expiry(key, days),
    )
    try:
        return workflow.submit(ext, request=request)
    except IntegrityError as exc:  # a second extension submitted at the same moment
        raise ValidationError(_("An extension of this key is already waiting.")) from exc


def apply(ext_id: int) -> None:
    """Move the key's expiry in LiteLLM and in the portal to the approved end date. Under the
    key's lock (as rotation and revocation), so it never touches a key being revoked or
    rotated; a key that ended meanwhile cancels the extension."""
    ext = KeyExtension.objects.select_related("key", "requester").get(pk=ext_id)
    if not ext.start_provisioning():
        log.info("nothing to extend", extra={"extension": ext_id, "status": ext.status})
        return
    with transaction.atomic():
        key = VirtualKey.objects.select_related("department", "requester").locked(ext.key_id)
        if key.status != Status.ACTIVE or not key.litellm_key_id:
            ext.transition(
                Status.CANCELLED,
                allowed_from=[Status.PROVISIONING],
                actor=None,
                ended_at=timezone.now(),
                last_error=f"key is {key.status}",
            )
            return
        result = "exists"
        if key.expires_at != ext.new_expires_at:
            seconds = int((ext.new_expires_at - timezone.now()).total_seconds())
            client = LiteLLMClient.from_settings(changed_by=f"portal:{ext.requester.email}")
            client.update_key(key.litellm_key_id, duration=f"{max(seconds, 60)}s")
            before = {"expires_at": key.expires_at}
            key.expires_at = ext.new_expires_at
            key.reminded_at = None  # remind again before the new end
            key.save(update_fields=["expires_at", "reminded_at", "updated_at"])
            audit.record(
                EXTENDED,
                key,
                actor=ext.decided_by or ext.requester,
                before=before,
                after={"expires_at": key.expires_at, "extension": ext.pk},
            )
            result = "updated"
        ext.record_step("litellm_expiry", result)
        ext.mark_active()
    log.info("key extended", extra={"key": key.pk, "extension": ext_id, "result": result})
