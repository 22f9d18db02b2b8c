"""Leavers' keys against the real LiteLLM proxy: blocked by the sync, unblocked by a lead,
revoked after the grace period, and a LiteLLM outage during blocking retried, never skipped."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from approvals import tasks as approval_tasks
from approvals.lifecycle import Status
from keys import leavers, services, tasks
from keys.models import VirtualKey
from portal import crypto
from portal.celery import app as celery_app
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent
from tenants import directory

from .factories import make_key
from .integration import chat, keys_with_alias, start_worker, wait_for, wait_for_row
from .test_directory import (  # noqa: F401
    entra,
    graph,
    graph_client,
    infra_group,
    mirror_org,
    sleeps,
)
from .workers import Worker

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


@pytest.fixture
def worker_on(fault_proxy):
    """Start a real Celery worker (after the fault proxy, so it talks to LiteLLM through it)."""
    started = []

    def start(**env) -> Worker:
        started.append(start_worker(**env))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()
    celery_app.conf.task_default_queue = "portal"


def block_attempts(fault_proxy) -> int:
    return fault_proxy.calls.count("POST /key/block")


@pytest.fixture
def leaver_while_litellm_is_down(org, entra, graph_client, fault_proxy, worker_on):  # noqa: F811
    """dev_a's live key and a worker (with the settings given), then LiteLLM goes down and
    the sync finds dev_a gone: the sync commits, tries the block, fails, leaves it to the
    worker. Returns the key, its secret and the worker."""

    def start(**worker_settings):
        mirror_org(entra, org)
        key, secret = live_key(org)  # through the fault proxy, while it is up
        worker = worker_on(**worker_settings)
        fault_proxy.down = True
        entra.users["oid-dev_a"].groups = []
        run = directory.sync(graph_client)
        assert run.status == "ok", run.error
        return key, secret, worker

    return start


def test_litellm_down_while_blocking_is_retried_by_a_worker(
    litellm, fault_proxy, leaver_while_litellm_is_down
):
    key, secret, worker = leaver_while_litellm_is_down(
        PROVISION_RETRY_BASE_SECONDS="1", PROVISION_MAX_RETRIES="8"
    )
    key.refresh_from_db()
    assert key.status == Status.SUSPENDED and key.blocked_at is None  # marked for blocking
    assert leavers.unblocked_marks() == [key.pk]
    # The worker's own attempts fail too while LiteLLM is unreachable (the first try was the
    # sync's, after its commit; then the task's first run and its first retry).
    wait_for(
        lambda: block_attempts(fault_proxy) >= 3,
        timeout=60,
        message=f"the worker never retried the block\n{worker.output()[-3000:]}",
    )
    assert VirtualKey.objects.get(pk=key.pk).blocked_at is None
    assert chat(litellm.base_url, secret).status_code == 200  # not blocked yet

    fault_proxy.down = False  # LiteLLM is back: the worker's next retry blocks the key
    key = wait_for_row(
        VirtualKey, key.pk, lambda k: k.blocked_at is not None, 60, worker, ", not blocked"
    )
    assert leavers.unblocked_marks() == []
    [remote] = keys_with_alias(litellm, key.alias)
    assert remote["blocked"] is True
    assert refused(litellm, secret)
    assert "block failed, retrying" in worker.output()


def test_block_out_of_retries_is_swept_up_by_the_daily_job_in_a_worker(
    litellm, fault_proxy, leaver_while_litellm_is_down
):
    key, secret, worker = leaver_while_litellm_is_down(
        PROVISION_RETRY_BASE_SECONDS="0.2", PROVISION_MAX_RETRIES="1"
    )
    wait_for(
        lambda: "left for the sweep" in worker.output(),
        timeout=60,
        message=f"the task never gave up\n{worker.output()[-3000:]}",
    )
    assert leavers.unblocked_marks() == [key.pk]  # still marked: never skipped
    assert chat(litellm.base_url, secret).status_code == 200

    fault_proxy.down = False
    assert tasks.revoke_suspended_keys() == 0  # hands the marked key to the worker again
    key = wait_for_row(
        VirtualKey, key.pk, lambda k: k.blocked_at is not None, 60, worker, ", not blocked"
    )
    [remote] = keys_with_alias(litellm, key.alias)
    assert remote["blocked"] is True
    assert refused(litellm, secret)


def test_a_lost_block_retry_is_picked_up_by_the_stalled_work_sweep(org, litellm, worker, settings):
    """The block failed and its retry message was lost (Redis restarted without persistence,
    or the worker holding the retry was killed): the stalled-work sweep blocks the key, not
    the next daily run. Found by the soak (bench/soak.py)."""
    key, secret = live_key(org)
    key.transition(
        Status.SUSPENDED, allowed_from=[Status.ACTIVE], actor=None,
        suspended_at=timezone.now(), blocked_at=None,
    )  # fmt: skip
    settings.PROVISION_STALL_SECONDS = 3600
    assert approval_tasks.resume_stalled() == 0  # not stalled yet: its retry may be coming
    settings.PROVISION_STALL_SECONDS = 0
    assert approval_tasks.resume_stalled() == 1
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).blocked_at, timeout=60)
    assert refused(litellm, secret)


def test_a_leavers_request_cancelled_mid_provisioning_is_cleaned_up_when_its_message_is_lost(
    org, litellm, worker, settings
):
    """The requester left while a worker was making their key: the request is cancelled and
    its clean-up enqueued after the commit. With that message lost (Redis away), the
    stalled-work sweep still removes what reached LiteLLM, once."""
    key = make_key(org, status=Status.PROVISIONING, attempts=1, name="mid-way")
    LiteLLMClient.from_settings().generate_key(key_alias=key.alias)  # reached LiteLLM
    key.cancel_for_leaver(reason="requester left: test")  # its enqueue_cleanup never ran
    settings.PROVISION_STALL_SECONDS = 0
    assert approval_tasks.resume_stalled() == 1
    wait_for(lambda: not keys_with_alias(litellm, key.alias), timeout=60)
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).steps.get("purge") == "done", timeout=30)
    assert approval_tasks.resume_stalled() == 0  # confirmed: not sent again
