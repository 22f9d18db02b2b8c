"""The restore drill's resolutions (README, "Restoring the portal's database"): after the
portal's database goes back to a backup while LiteLLM keeps its later state, reconcile lists
keys made since (unknown to the portal) and keys ended since (gone from LiteLLM); infra adopts,
blocks or deletes the first and ends the second from the operations page, each audited,
against the real LiteLLM proxy."""

import datetime

import pytest

from approvals.lifecycle import Status
from keys import reconcile, resolve
from keys.models import VirtualKey
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

from .integration import keys_with_alias
from .test_keys_drift import findings_by_alias, live_key

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def resolve_from_page(client, org, action: str, token: str):
    client.force_login(org["infra"])
    return client.post("/operations/drift/resolve/", {"resolve": f"{action}:{token}"}, follow=True)


def test_a_key_made_after_the_backup_is_adopted_by_its_request(litellm, org, client):
    key = live_key(org, "made-after-the-dump")
    token = key.litellm_key_id
    # Restored from a backup taken when the request was approved, not yet live.
    VirtualKey.objects.filter(pk=key.pk).update(
        status=Status.APPROVED, litellm_key_id="", activated_at=None, expires_at=None
    )
    found = findings_by_alias(reconcile.reconcile())
    assert found[key.alias]["kind"] == "unknown" and found[key.alias]["token"] == token

    page = resolve_from_page(client, org, "end", token).content.decode()  # not offered
    assert "Nothing to resolve" in page
    assert VirtualKey.objects.get(pk=key.pk).status == Status.APPROVED

    page = resolve_from_page(client, org, "adopt", token).content.decode()
    assert "Resolved" in page
    key.refresh_from_db()
    assert key.status == Status.ACTIVE and key.litellm_key_id == token
    remote = LiteLLMClient.from_settings().key_info(token)["info"]
    expires = datetime.datetime.fromisoformat(remote["expires"])
    assert abs(key.expires_at - expires) < datetime.timedelta(seconds=1)
    assert not key.secret_encrypted and key.secret_revealed_at  # nothing to reveal
    adopted = AuditEvent.objects.get(action=resolve.ADOPTED, object_id=str(key.pk))
    assert adopted.actor == org["infra"] and adopted.after == {"litellm_key_id": token}
    went_live = AuditEvent.objects.filter(action="virtualkey.active", object_id=str(key.pk))
    assert went_live.latest("pk").actor == org["infra"]
    assert key.alias not in findings_by_alias(reconcile.reconcile())


def test_unknown_keys_are_blocked_or_deleted_and_a_key_gone_from_litellm_is_ended(
    litellm, org, client
):
    key = live_key(org, "ended-after-the-dump")
    admin = LiteLLMClient.from_settings()
    team = key.department.litellm_team_id
    strays = [admin.generate_key(key_alias=f"stray-{i}", team_id=team)["token"] for i in (1, 2)]
    admin.delete_keys(keys=[key.litellm_key_id])  # revoked after the backup was taken
    found = findings_by_alias(reconcile.reconcile())
    assert found["stray-1"]["kind"] == found["stray-2"]["kind"] == "unknown"
    assert found[key.alias]["kind"] == "deleted"

    page = resolve_from_page(client, org, "adopt", strays[0]).content.decode()
    assert "No request of the portal owns this key" in page
    resolve_from_page(client, org, "block", strays[0])
    assert admin.key_info(strays[0])["info"]["blocked"] is True
    resolve_from_page(client, org, "delete", strays[1])
    assert keys_with_alias(litellm, "stray-2") == []
    resolve_from_page(client, org, "end", key.litellm_key_id)
    key.refresh_from_db()
    assert key.status == Status.REVOKED

    for action in (reconcile.UNKNOWN_BLOCKED, resolve.UNKNOWN_DELETED, "virtualkey.revoked"):
        event = AuditEvent.objects.filter(action=action).latest("pk")
        assert event.actor == org["infra"], action
    assert AuditEvent.objects.get(action=resolve.UNKNOWN_DELETED).after["alias"] == "stray-2"
    assert not set(findings_by_alias(reconcile.reconcile())) & {"stray-2", key.alias}
