"""Leavers' keys against the real LiteLLM proxy: blocked by the sync, unblocked by a lead,
revoked after the grace period, and a LiteLLM outage during blocking retried, never skipped."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from approvals.lifecycle import Status
from keys import leavers, services, tasks
from keys.models import VirtualKey
from portal import crypto
from portal.integrations.errors import Unavailable
from portal.models import AuditEvent
from tenants import directory

from .factories import make_key
from .integration import chat, keys_with_alias
from .test_directory import (  # noqa: F401
    entra,
    graph,
    graph_client,
    infra_group,
    mirror_org,
    sleeps,
)

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def live_key(org) -> tuple[VirtualKey, str]:
    """A key for dev_a, provisioned in the real proxy, and its secret."""
    key = make_key(org, name="support-bot", rpm_limit=50, tpm_limit=100000, status=Status.APPROVED)
    services.provision(key.pk)
    key.refresh_from_db()
    assert key.status == Status.ACTIVE
    return key, crypto.decrypt(key.secret_encrypted)


def refused(litellm, secret: str) -> bool:
    return chat(litellm.base_url, secret).status_code in (400, 401, 403)


def test_leaver_key_blocked_then_lead_unblocks(
    org,
    entra,  # noqa: F811
    graph_client,  # noqa: F811
    litellm,
    client,
):
    mirror_org(entra, org)
    key, secret = live_key(org)
    assert chat(litellm.base_url, secret).status_code == 200

    entra.users["oid-dev_a"].groups = []  # removed from the department's groups
    run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    key.refresh_from_db()
    assert key.status == Status.SUSPENDED and key.blocked_at and key.suspended_at
    assert refused(litellm, secret)
    [remote] = keys_with_alias(litellm, key.alias)
    assert remote["blocked"] is True
    offboarded = next(c for c in run.changes if c["kind"] == "offboarded")
    assert offboarded["keys"] == [key.alias]
    [notice] = [m for m in mail.outbox if "left" in m.subject]
    assert sorted(notice.to) == ["infra@example.com", "lead_a@example.com"]
    assert key.alias in notice.body and secret not in notice.body
    assert AuditEvent.objects.filter(action="virtualkey.suspended", object_id=str(key.pk))
    assert AuditEvent.objects.filter(action="virtualkey.blocked", object_id=str(key.pk))

    # The owner is not back: the lead cannot unblock yet.
    client.force_login(org["lead_a"])
    html = client.get(f"/keys/{key.pk}/").content.decode()
    assert 'id="suspended"' in html and 'id="unblock"' not in html
    client.post(f"/keys/{key.pk}/unblock/")
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUSPENDED

    # Back in the department (next sync); a developer or another lead may not unblock.
    entra.users["oid-dev_a"].groups = ["grp-alpha-members"]
    assert directory.sync(graph_client).status == "ok"
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUSPENDED  # not automatic
    client.force_login(org["lead_b"])
    assert client.post(f"/keys/{key.pk}/unblock/").status_code == 404
    client.force_login(org["dev_a"])
    assert client.post(f"/keys/{key.pk}/unblock/").status_code == 403

    client.force_login(org["lead_a"])
    assert 'id="unblock"' in client.get(f"/keys/{key.pk}/").content.decode()
    response = client.post(f"/keys/{key.pk}/unblock/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == Status.ACTIVE and key.suspended_at is None and key.blocked_at is None
    assert chat(litellm.base_url, secret).status_code == 200
    event = AuditEvent.objects.get(
        action="virtualkey.active", object_id=str(key.pk), actor__isnull=False
    )
    assert event.actor == org["lead_a"]


def test_suspended_past_the_grace_period_is_revoked(
    org,
    entra,  # noqa: F811
    graph_client,  # noqa: F811
    litellm,
    settings,
):
    settings.LEAVER_GRACE_DAYS = 30
    mirror_org(entra, org)
    key, secret = live_key(org)
    entra.users["oid-dev_a"].account_enabled = False
    assert directory.sync(graph_client).status == "ok"
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUSPENDED

    assert tasks.revoke_suspended_keys() == 0  # still within the grace period
    VirtualKey.objects.filter(pk=key.pk).update(
        suspended_at=timezone.now() - datetime.timedelta(days=31)
    )
    key.refresh_from_db()
    assert leavers.unblock_refusal(key, org["lead_a"]) == "The grace period is over."
    assert tasks.revoke_suspended_keys() == 1
    key.refresh_from_db()
    assert key.status == Status.REVOKED and key.ended_at
    assert keys_with_alias(litellm, key.alias) == []
    assert refused(litellm, secret)


def test_litellm_down_while_blocking_is_retried(
    org,
    entra,  # noqa: F811
    graph_client,  # noqa: F811
    litellm,
    fault_proxy,
    monkeypatch,
):
    mirror_org(entra, org)
    key, secret = live_key(org)  # through the fault proxy, while it is up
    retries = []
    monkeypatch.setattr(
        tasks.block_suspended_key, "apply_async", lambda args, **kw: retries.append(args)
    )

    fault_proxy.down = True
    entra.users["oid-dev_a"].groups = []
    run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    key.refresh_from_db()
    assert key.status == Status.SUSPENDED and key.blocked_at is None  # marked for blocking
    assert retries == [(key.pk,)]
    assert leavers.unblocked_marks() == [key.pk]
    assert chat(litellm.base_url, secret).status_code == 200  # not blocked yet: LiteLLM is down

    # Still down: the block raises (the task retries it) and the key stays marked.
    with pytest.raises(Unavailable):
        leavers.block(key.pk)
    assert VirtualKey.objects.get(pk=key.pk).blocked_at is None
    # The daily sweep hands marked keys to the retrying task again.
    swept = []
    monkeypatch.setattr(tasks.block_suspended_key, "delay", swept.append)
    assert tasks.revoke_suspended_keys() == 0 and swept == [key.pk]

    fault_proxy.down = False
    assert tasks.block_suspended_key.apply(args=(key.pk,)).get() == "blocked"
    key.refresh_from_db()
    assert key.blocked_at is not None and leavers.unblocked_marks() == []
    assert refused(litellm, secret)
