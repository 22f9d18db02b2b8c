"""Extending a key in place against the real LiteLLM proxy: the same token keeps answering,
LiteLLM holds the new expiry, and the old one no longer applies. Races with a barrier."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals import workflow
from approvals.lifecycle import Status
from keys import extensions, services
from keys.models import KeyExtension, VirtualKey
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent

from .integration import (
    KEY_REQUEST,
    chat,
    request_and_approve,
    reveal_key,
    wait_for,
    wait_for_row,
    wait_for_status,
)
from .test_races import active_key, assert_converged, race

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]

# LiteLLM sets ``expires`` from the duration when it gets the call, the portal from its own
# clock a moment before: the two agree to within this.
AGREE = datetime.timedelta(seconds=5)


def litellm_expiry(key: VirtualKey) -> datetime.datetime:
    info = LiteLLMClient.from_settings().key_info(key.litellm_key_id)["info"]
    return parse_datetime(info["expires"])


def ends_in(key: VirtualKey, seconds: int) -> datetime.datetime:
    """The key nears its end: LiteLLM and the portal both end it ``seconds`` from now."""
    LiteLLMClient.from_settings().update_key(key.litellm_key_id, duration=f"{seconds}s")
    end = litellm_expiry(key)
    VirtualKey.objects.filter(pk=key.pk).update(expires_at=end)
    return end


def test_an_extended_key_keeps_its_secret_and_outlives_its_first_end(client, org, litellm, worker):
    org["a"].auto_approve_max_budget = Decimal("10")
    org["a"].auto_approve_max_lifetime_days = 30
    org["a"].save()
    keys = {}
    for name in ("extended", "control"):
        key = request_and_approve(client, org, "keys", {**KEY_REQUEST, "name": name})
        key = wait_for_status(key.pk, Status.ACTIVE, worker=worker)
        keys[name] = (key, reveal_key(client, key))
    (key, secret), (control, control_secret) = keys["extended"], keys["control"]
    token = key.litellm_key_id
    first_end = max(ends_in(key, 20), ends_in(control, 20))
    assert chat(litellm.base_url, secret).status_code == 200

    # Within the auto-approval rule: approved at once, applied by the worker.
    response = client.post(f"/keys/{key.pk}/extend/", {"days": "1", "justification": "Pilot"})
    assert response.status_code == 302
    ext = KeyExtension.objects.get(key=key)
    assert ext.auto_approved
    ext = wait_for_row(
        KeyExtension, ext.pk, lambda e: e.status == Status.ACTIVE, 60, worker, "extended"
    )
    key.refresh_from_db()
    assert key.litellm_key_id == token and not key.secret_encrypted  # same key, no new secret
    assert key.expires_at == ext.new_expires_at
    assert key.expires_at > first_end + datetime.timedelta(hours=23)
    assert abs(litellm_expiry(key) - key.expires_at) < AGREE  # what LiteLLM holds now
    assert AuditEvent.objects.filter(action="virtualkey.extended", object_id=str(key.pk)).exists()

    # The first end passes (the wall clock LiteLLM enforces with): the control key is refused,
    # the extended one still answers with the same secret.
    wait_for(lambda: timezone.now() > first_end + datetime.timedelta(seconds=1), timeout=60)
    assert chat(litellm.base_url, control_secret).status_code in (400, 401, 403)
    answer = chat(litellm.base_url, secret)
    assert answer.status_code == 200, answer.text


def approved_extension(org, key: VirtualKey, days: int = 3) -> KeyExtension:
    ext = extensions.request_extension(key, actor=org["dev_a"], days=days, justification="x")
    workflow.approve(ext, actor=org["lead_a"])
    return ext


def test_two_workers_apply_one_extension_once(org, litellm):
    key = active_key(org)
    ext = approved_extension(org, key)
    race(lambda: extensions.apply(ext.pk), lambda: extensions.apply(ext.pk))
    ext.refresh_from_db()
    key.refresh_from_db()
    assert ext.status == Status.ACTIVE
    assert key.expires_at == ext.new_expires_at
    assert abs(litellm_expiry(key) - key.expires_at) < AGREE
    extended = AuditEvent.objects.filter(action="virtualkey.extended", object_id=str(key.pk))
    assert extended.count() == 1


def test_an_extension_races_a_revocation(org, litellm):
    for _ in range(3):
        key = active_key(org)
        ext = approved_extension(org, key)
        lead_tab = VirtualKey.objects.get(pk=key.pk)
        race(
            lambda pk=ext.pk: extensions.apply(pk),
            lambda k=lead_tab: services.revoke(k, actor=org["lead_a"]),
        )
        ext.refresh_from_db()
        key.refresh_from_db()
        assert key.status == Status.REVOKED
        assert ext.status in (Status.ACTIVE, Status.CANCELLED)
        assert_converged(litellm, key)  # nothing left live in LiteLLM
