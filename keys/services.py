"""What happens to a virtual key: submit, approve, provision, hand over, rotate, revoke, expire.

Provisioning is a sequence of "ensure" steps. Each one looks before it creates, so a retry,
a second worker or a worker killed mid-step never makes a second team, user or key.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from approvals import mail, registry
from approvals.lifecycle import ENDED_STATUSES, Status
from portal import audit, crypto
from portal.integrations.errors import Conflict, IntegrationError, NotFound, Rejected
from portal.integrations.litellm import LiteLLMClient, key_hash
from tenants.models import User

from . import signals
from .litellm_steps import ensure_membership, ensure_team, ensure_user, team_id_for
from .models import KeyToken, VirtualKey

ROTATED = audit.action("virtualkey.rotated")
ROTATION_INTERRUPTED = "interrupted"  # steps["rotation"]: LiteLLM to be put back
PURGE_PENDING = "pending"  # steps["purge"]: ended, LiteLLM's deletion not yet confirmed
KEY_PENDING = "key_pending"  # steps: a secret chosen and kept, LiteLLM's key not yet confirmed
SECRET_FIELDS = ["litellm_key_id", "secret_last4", "secret_encrypted", "secret_revealed_at"]

log = logging.getLogger(__name__)


# --- provisioning steps ----------------------------------------------------------------------
@sensitive_variables("secret")
def _generate(
    client: LiteLLMClient,
    key: VirtualKey,
    *,
    alias: str,
    spend: float = 0.0,
    carry=None,
    secret: str | None = None,
) -> dict:
    """``/key/generate`` with everything the request says. Tags go in metadata: LiteLLM files
    them there anyway, and its ``tags`` parameter needs an enterprise licence. ``carry``:
    metadata a replacement keeps from the key it replaces (a tuning project's routing).
    ``secret``: the key's value, chosen by the portal (else LiteLLM picks one)."""
    remaining = None
    if key.expires_at:  # a replacement keeps the original end date
        seconds = int((key.expires_at - timezone.now()).total_seconds())
        remaining = f"{max(seconds, 60)}s"
    return client.generate_key(
        key_alias=alias,
        user_id=key.litellm_user_id,
        team_id=team_id_for(key.department),
        models=key.llm_models,
        max_budget=float(key.max_budget),
        budget_duration=key.budget_duration or None,
        rpm_limit=key.rpm_limit,
        tpm_limit=key.tpm_limit,
        duration=remaining or f"{key.lifetime_days}d",
        metadata={**(carry or {}), **key.litellm_metadata(), "tags": key.litellm_tags()},
        spend=spend or None,
        key=secret,
    )


def _locked(key_id: int) -> VirtualKey:
    """The key's row, locked for the rest of the transaction. Every change to one key, and
    every call to LiteLLM about it, happens while holding this lock, so operations on one key
    are serialised and each sees what the previous one left."""
    return VirtualKey.objects.select_related("department", "requester").locked(key_id)


@sensitive_variables("response")
def ensure_key(client: LiteLLMClient, key_id: int) -> str:
    """Generate the key, unless it exists, so that one request never has two keys in LiteLLM.

    The portal picks the secret and keeps it (encrypted) in a committed step before it asks
    LiteLLM, and every attempt sends that same secret. LiteLLM stores a key under its secret's
    hash with an upsert, so an attempt that reaches it late (its caller had given up, or the
    worker died) or twice can only find the key already there. Nothing is generated unless
    the request is still provisioning (not revoked or cancelled meanwhile): the status is read
    under the same lock the revoke takes."""
    with transaction.atomic():
        key = _locked(key_id)
        if key.status != Status.PROVISIONING:
            return f"skipped: {key.status}"
        steps = key.steps or {}
        kept = key.secret_encrypted or key.secret_revealed_at
        if key.litellm_key_id and kept and not steps.get(KEY_PENDING):
            return "exists"
        if not steps.get(KEY_PENDING):
            secret = f"sk-{secrets.token_urlsafe(32)}"
            key.store_secret(secret)
            key.litellm_key_id = key_hash(secret)
            key.steps = {**steps, KEY_PENDING: True}
            key.save(update_fields=[*SECRET_FIELDS, "steps", "updated_at"])
    with transaction.atomic():
        key = _locked(key_id)
        if key.status != Status.PROVISIONING:
            return f"skipped: {key.status}"
        if not (key.steps or {}).get(KEY_PENDING):
            return "exists"  # another worker finished it meanwhile
        result = _send_pending_key(client, key)
        key.steps = {k: v for k, v in key.steps.items() if k != KEY_PENDING}
        key.save(update_fields=["steps", "updated_at"])
        return result


@sensitive_variables("secret", "response")
def _send_pending_key(client: LiteLLMClient, key: VirtualKey) -> str:
    """``/key/generate`` with the kept secret; "exists" where an earlier attempt made it."""
    held = client.find_key_by_alias(key.alias)
    if held is not None and held["token"] == key.litellm_key_id:
        return "exists"  # an earlier attempt reached LiteLLM; its answer was lost
    result = "created"
    if held is not None:  # made under our alias by an attempt whose secret was never kept
        client.delete_keys(keys=[held["token"]])
        result = "replaced"
    secret = crypto.decrypt(key.secret_encrypted)
    try:
        response = _generate(client, key, alias=key.alias, secret=secret)
    except Conflict:  # the alias is taken: by our own key, made by an attempt still in flight
        client.key_info(key.litellm_key_id)  # NotFound (someone else's key) is raised
        return "exists"
    except Rejected as exc:
        if exc.status != 403:
            raise
        # The proxy refuses secrets chosen by the caller (disable_custom_api_keys): LiteLLM
        # picks it, and a lost answer can leave an orphan that the next attempt deletes.
        response = _generate(client, key, alias=key.alias)
    if response["token"] != key.litellm_key_id:
        _keep(key, response)
    return result


def _keep(key: VirtualKey, response: dict, *also: str) -> None:
    """The LiteLLM key just made: its token id and its secret (shown once), saved with the
    fields ``also`` names."""
    key.litellm_key_id = response["token"]
    key.store_secret(response["key"])
    key.save(update_fields=[*SECRET_FIELDS, *also, "updated_at"])


def provision(key_id: int) -> None:
    """Run every step that is not done yet, then mark the key active."""
    key = VirtualKey.objects.select_related("department", "requester").get(pk=key_id)
    if not key.start_provisioning():
        log.info("nothing to provision", extra={"key": key_id, "status": key.status})
        return
    client = LiteLLMClient.from_settings(changed_by=f"portal:{key.requester.email}")
    key.record_step("team", ensure_team(client, key.department))
    if key.kind == VirtualKey.Kind.PERSONAL:
        key.record_step("user", ensure_user(client, key.requester))
        key.record_step(
            "membership", ensure_membership(client, team_id_for(key.department), key.requester)
        )
    key.record_step("key", ensure_key(client, key.pk))

    with transaction.atomic():
        key = _locked(key_id)
        if key.status == Status.PROVISIONING and key.litellm_key_id:
            key.mark_active()
            mail.key_ready(key)
            log.info("key provisioned", extra={"key": key_id, "alias": key.alias})


# --- hand-over, rotation, revocation, expiry ---------------------------------------------------
def rotate(key: VirtualKey, *, actor: User, request=None) -> None:
    """A new secret now; the old one is refused at once; the new one waits to be revealed once.

    Done as replace (generate a new key, delete the old) because LiteLLM's ``/key/regenerate``
    needs an enterprise licence. The new key carries the old one's spend and end date, so a
    rotation never resets a budget. Safe to repeat after a crash half-way. A rotation that
    fails once LiteLLM may have acted (an answer that never came) is marked; a worker puts
    LiteLLM back as the portal holds it (``repair_rotation``), resumed by the stalled-work sweep.
    """
    try:
        _rotate(key, actor=actor, request=request)
    except IntegrationError:
        with transaction.atomic():
            locked = _locked(key.pk)
            locked.steps = {**(locked.steps or {}), "rotation": ROTATION_INTERRUPTED}
            locked.save(update_fields=["steps", "updated_at"])
            repair = registry.task(locked, "repair")
            transaction.on_commit(lambda: repair.delay(key.pk), robust=True)
        raise


@sensitive_variables("response")
@transaction.atomic
def repair_rotation(key_id: int) -> str:
    """After an interrupted rotation, make LiteLLM hold the key as the portal does: a key made
    under the alias whose secret was never stored is deleted; the portal's key gets its alias
    back; if the interrupted rotation had already deleted it, a new key is made (its secret
    waits to be revealed, as after a rotation). Under the key's lock; idempotent."""
    key = _locked(key_id)
    if (key.steps or {}).get("rotation") != ROTATION_INTERRUPTED:
        return "nothing to do"
    result = "nothing to do"
    if key.status == Status.ACTIVE:  # an ended key's revoke deleted alias and -rotating
        client = LiteLLMClient.from_settings(changed_by="portal:repair")
        old = key.litellm_key_id
        current = client.find_key_by_alias(key.alias)
        held = None
        for alias in (key.alias, f"{key.alias}-rotating"):
            found = client.find_key_by_alias(alias)
            if found is not None and found["token"] == old:
                held = found
        if current is not None and current["token"] != old:
            spend = float(current.get("spend") or 0)
            client.delete_keys(keys=[current["token"]])
        else:
            spend = float((held or {}).get("spend") or 0)
        if held is not None:
            if held.get("key_alias") != key.alias:
                client.update_key(old, key_alias=key.alias)
            result = "restored"
        else:  # the old key is gone: the owner needs a new one
            _keep(key, _generate(client, key, alias=key.alias, spend=spend))
            KeyToken.objects.get_or_create(token=old, defaults={"key": key})
            audit.record(
                ROTATED, key, before={"litellm_key_id": old},
                after={"litellm_key_id": key.litellm_key_id},
            )  # fmt: skip
            result = "made again"
    key.steps = {k: v for k, v in key.steps.items() if k != "rotation"}
    key.save(update_fields=["steps", "updated_at"])
    return result


@sensitive_variables("response")
@transaction.atomic
def _rotate(key: VirtualKey, *, actor: User, request=None) -> None:
    key = _locked(key.pk)
    if key.requester_id != actor.pk:
        raise PermissionDenied
    if key.status != Status.ACTIVE or key.requester_left():
        raise ValidationError(
            _("This key is %(status)s and cannot be rotated.")
            % {"status": key.get_status_display()}
        )
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    old = key.litellm_key_id
    info = client.key_info(old).get("info", {})
    spend = float(info.get("spend") or 0)
    carry = {k: v for k, v in (info.get("metadata") or {}).items() if k == "logging"}
    current = client.find_key_by_alias(key.alias)
    if current is not None and current["token"] != old:
        client.delete_keys(keys=[current["token"]])  # left by an earlier, interrupted rotation
    client.update_key(old, key_alias=f"{key.alias}-rotating")  # aliases are unique
    response = _generate(client, key, alias=key.alias, spend=spend, carry=carry)
    client.delete_keys(keys=[old])
    key.drift, key.drift_fields = "", []
    _keep(key, response, "drift", "drift_fields")
    # LiteLLM goes on reporting the old token's spend under the old token: it stays the key's.
    KeyToken.objects.get_or_create(token=old, defaults={"key": key})
    audit.record(
        ROTATED,
        key,
        actor=actor,
        request=request,
        before={"litellm_key_id": old},
        after={"litellm_key_id": key.litellm_key_id},
    )
    signals.key_rotated.send(
        sender=VirtualKey, key=key, old_token=old, new_token=key.litellm_key_id
    )


def delete_remote(client: LiteLLMClient, key: VirtualKey) -> list[str]:
    """Delete every LiteLLM key that belongs to this request: the token the portal knows and
    anything under its alias (a key generated by a run that died before recording it, or left
    by an interrupted rotation). Returns the tokens deleted. Call under the key's lock."""
    tokens = {key.litellm_key_id} - {""}
    for alias in (key.alias, f"{key.alias}-rotating"):
        found = client.find_key_by_alias(alias)
        if found is not None:
            tokens.add(found["token"])
    for token in sorted(tokens):
        with contextlib.suppress(NotFound):  # already gone in LiteLLM: the end state we want
            client.delete_keys(keys=[token])
    return sorted(tokens)


# A key can be ended from any state in which something may exist in LiteLLM.
ENDABLE = [Status.ACTIVE, Status.SUSPENDED, Status.APPROVED, Status.PROVISIONING, Status.FAILED]


def _end(key_id: int, status: str, *, actor: User | None, request=None, check=None) -> None:
    with transaction.atomic():
        key = _locked(key_id)
        if key.status not in ENDABLE:
            raise ValidationError(
                _("This key is %(status)s and cannot be ended.")
                % {"status": key.get_status_display()}
            )
        if check is not None:
            check(key)
        client = LiteLLMClient.from_settings(
            changed_by=f"portal:{actor.email}" if actor else "portal"
        )
        steps = {**(key.steps or {}), "purge": "done"}
        try:
            delete_remote(client, key)
        except IntegrationError as exc:
            # LiteLLM may have deleted before the failure (an answer that never came). The end
            # is recorded now, so it is not lost with the error; the deletion is retried
            # (purge_key, resumed by the stalled-work sweep) until LiteLLM confirms it.
            log.warning("end recorded, deletion retried", extra={"key": key_id, "error": str(exc)})
            steps["purge"] = PURGE_PENDING
            cleanup = registry.task(key, "cleanup")
            transaction.on_commit(lambda: cleanup.delay(key_id), robust=True)
        key.transition(
            status,
            allowed_from=ENDABLE,
            actor=actor,
            request=request,
            ended_at=timezone.now(),
            secret_encrypted="",
            steps=steps,
        )
        mail.ended(key)


def revoke(key: VirtualKey, *, actor: User, request=None) -> None:
    def may_revoke(locked: VirtualKey) -> None:
        if not locked.can_revoke(actor):
            raise PermissionDenied

    _end(key.pk, Status.REVOKED, actor=actor, request=request, check=may_revoke)


def expire(key_id: int) -> bool:
    """End the key if it is (still) active and past its end; False when there is nothing to do
    (rotated, revoked or extended meanwhile: checked under the lock)."""
    with transaction.atomic():
        key = _locked(key_id)
        if key.status != Status.ACTIVE or not key.expires_at or key.expires_at > timezone.now():
            return False
        _end(key_id, Status.EXPIRED, actor=None)
        return True


def purge(key_id: int) -> list[str]:
    """For a request that ended before it went live (e.g. its requester left mid-provisioning):
    delete whatever reached LiteLLM. Idempotent."""
    with transaction.atomic():
        key = _locked(key_id)
        if key.status not in ENDED_STATUSES:
            return []
        client = LiteLLMClient.from_settings(changed_by="portal:cleanup")
        deleted = delete_remote(client, key)
        if (key.steps or {}).get("purge") != "done":  # confirmed: the sweep leaves it be
            key.steps = {**(key.steps or {}), "purge": "done"}
            key.save(update_fields=["steps", "updated_at"])
        return deleted
