"""What infra does about a key that reconcile found live in LiteLLM but not in the portal
(*unknown*), or live in the portal but gone from LiteLLM (*deleted*): typically after the
portal's database was restored from a backup while LiteLLM kept its later state.

* **adopt** an unknown key whose alias names one of the portal's requests: the request takes
  LiteLLM's key as its live key (made after the backup, or rotated since);
* **block** or **delete** an unknown key in LiteLLM (nobody the portal knows owns it);
* **end** a deleted one in the portal: it is revoked there (ended after the backup).

Each runs under the request's row lock where there is a request, looks at LiteLLM again there
(the finding may be stale), and is audited.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from approvals.lifecycle import OPEN_STATUSES, Status
from portal import audit
from portal.integrations.errors import NotFound
from portal.integrations.litellm import LiteLLMClient
from tenants.models import Department, User

from . import services
from .models import KeyToken, VirtualKey
from .reconcile import _PORTAL_ALIAS, UNKNOWN_BLOCKED

ADOPTED = audit.action("virtualkey.adopted")
UNKNOWN_DELETED = audit.action("department.unknown_key_deleted")


def _remote(client: LiteLLMClient, token: str) -> dict:
    try:
        return client.key_info(token).get("info") or {}
    except NotFound:
        raise ValidationError(_("LiteLLM no longer has this key.")) from None


def _request_of(info: dict) -> int | None:
    match = _PORTAL_ALIAS.match(info.get("key_alias") or "")
    return int(match[1]) if match else None


@transaction.atomic
def adopt(token: str, *, actor: User, request=None) -> VirtualKey:
    """The request named by the key's alias takes this LiteLLM key as its live key."""
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    pk = _request_of(_remote(client, token))
    key = VirtualKey.objects.filter(pk=pk).first() if pk else None
    if key is None:
        raise ValidationError(_("No request of the portal owns this key: block or delete it."))
    key = VirtualKey.objects.select_related("department").locked(key.pk)
    info = _remote(client, token)  # again, under the lock
    if key.status == Status.ACTIVE and key.litellm_key_id == token:
        return key
    if key.status not in [*OPEN_STATUSES, Status.ACTIVE]:
        raise ValidationError(
            _("This key is %(status)s and cannot take a key: block or delete it.")
            % {"status": key.get_status_display()}
        )
    old = key.litellm_key_id
    now = timezone.now()
    expires = parse_datetime(info["expires"]) if info.get("expires") else None
    # The portal never had this key's secret (or lost it with the restore): nothing to reveal.
    held = {"litellm_key_id": token, "secret_encrypted": "", "secret_revealed_at": now}
    if key.status == Status.ACTIVE:
        for name, value in held.items():
            setattr(key, name, value)
        key.drift = ""
        key.save(update_fields=[*held, "drift", "updated_at"])
    else:
        key.transition(
            Status.ACTIVE,
            allowed_from=OPEN_STATUSES,
            actor=actor,
            request=request,
            activated_at=now,
            expires_at=expires or now + datetime.timedelta(days=key.lifetime_days),
            last_error="",
            **held,
        )
    if old and old != token:  # LiteLLM reports the old token's spend under it: still the key's
        KeyToken.objects.get_or_create(token=old, defaults={"key": key})
    audit.record(
        ADOPTED, key, actor=actor, request=request,
        before={"litellm_key_id": old}, after={"litellm_key_id": token},
    )  # fmt: skip
    return key


def _refuse_if_held(token: str, info: dict) -> None:
    """Blocking or deleting a key the portal holds live now would cut its owner off."""
    pk = _request_of(info)
    if (
        pk
        and VirtualKey.objects.filter(
            pk=pk, litellm_key_id=token, status__in=[Status.ACTIVE, Status.SUSPENDED]
        ).exists()
    ):
        raise ValidationError(_("The portal holds this key now: reconcile again."))


def _department(info: dict) -> Department | None:
    team = info.get("team_id") or ""
    return Department.objects.filter(litellm_team_id=team).first() or next(
        (d for d in Department.objects.all() if services.team_id_for(d) == team), None
    )


def _unknown(token: str, actor: User) -> tuple[LiteLLMClient, dict]:
    """A client acting for ``actor``, and LiteLLM's view of the key ``token`` once work in
    flight on the request its alias names is done; refused if that request holds it now."""
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    info = _remote(client, token)
    _lock_owner(info)
    _refuse_if_held(token, info)
    return client, info


@transaction.atomic
def block_unknown(token: str, *, actor: User, request=None) -> None:
    client, info = _unknown(token, actor)
    client.block_key(token)
    _audit(UNKNOWN_BLOCKED, info, actor=actor, request=request)


@transaction.atomic
def delete_unknown(token: str, *, actor: User, request=None) -> None:
    client, info = _unknown(token, actor)
    client.delete_keys(keys=[token])
    _audit(UNKNOWN_DELETED, info, actor=actor, request=request)


def _lock_owner(info: dict) -> None:
    """Wait for work in flight on the request the alias names (a rotation, a provisioning)."""
    pk = _request_of(info)
    if pk:
        VirtualKey.objects.select_for_update(of=("self",)).filter(pk=pk).first()


def _audit(action: str, info: dict, *, actor: User, request) -> None:
    department = _department(info)
    audit.record(
        audit.declared(action), department, actor=actor, request=request,
        after={"alias": info.get("key_alias") or "", "team": info.get("team_id") or ""},
    )  # fmt: skip


def end_deleted(token: str, *, actor: User, request=None) -> VirtualKey:
    """A key the portal believes live but LiteLLM no longer has: revoke it in the portal (the
    revocation also removes anything left under its alias)."""
    key = VirtualKey.objects.filter(litellm_key_id=token, status=Status.ACTIVE).first()
    if key is None:
        raise ValidationError(_("The portal no longer holds this key live: reconcile again."))
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    # The key list, not /key/info: LiteLLM may answer /key/info from its cache for a while
    # after a key is deleted.
    found = client.find_key_by_alias(key.alias)
    if found is not None and found.get("token") == token:
        raise ValidationError(_("LiteLLM has this key again: reconcile again."))
    services.revoke(key, actor=actor, request=request)
    return key
