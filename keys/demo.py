"""Demo only (seed_demo): the seeded keys exist in LiteLLM too, so rotate, revoke and reconcile
work on them. Each is made with the same provisioning steps as a requested key; its secret is
dropped at once, since the demo history says its owner revealed it long ago."""

from __future__ import annotations

from django.db import transaction

from approvals.lifecycle import Status
from portal.integrations.litellm import LiteLLMClient

from .models import VirtualKey
from .services import ensure_key, ensure_membership, ensure_team, ensure_user, team_id_for


def make_in_litellm(keys: list[VirtualKey]) -> dict[str, str]:
    """Make each key in LiteLLM unless it is there under its alias. Returns {old token: new}
    for the keys that got a new token (the caller re-points their spend history)."""
    client = LiteLLMClient.from_settings(changed_by="portal:seed_demo")
    replaced: dict[str, str] = {}
    for key in keys:
        ensure_team(client, key.department)
        if key.kind == VirtualKey.Kind.PERSONAL:
            ensure_user(client, key.requester)
            ensure_membership(client, team_id_for(key.department), key.requester)
        found = client.find_key_by_alias(key.alias)
        if found is not None and found["token"] == key.litellm_key_id:
            continue
        old, revealed, status = key.litellm_key_id, key.secret_revealed_at, key.status
        # Seeding, not a transition: the key is put back where the seeded history has it, as
        # the provisioning step (which works only on a provisioning key) would leave it.
        VirtualKey.objects.filter(pk=key.pk).update(
            litellm_key_id="", secret_revealed_at=None, status=Status.PROVISIONING
        )
        ensure_key(client, key.pk)  # deletes a stale key under the alias, generates a new one
        with transaction.atomic():
            key = VirtualKey.objects.select_for_update().get(pk=key.pk)
            key.status = status
            key.secret_encrypted = ""
            key.secret_revealed_at = revealed
            key.save(
                update_fields=["status", "secret_encrypted", "secret_revealed_at", "updated_at"]
            )
        replaced[old] = key.litellm_key_id
    return replaced
