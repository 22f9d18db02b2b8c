"""The whole journey against a real LiteLLM proxy and a real Celery worker."""

import datetime
import threading

import pytest
from django.utils import timezone

from approvals import tasks as approval_tasks
from approvals.lifecycle import Status
from keys import services, tasks
from keys.models import VirtualKey
from portal.integrations.errors import IntegrationError, Unavailable

from .factories import make_key
from .integration import (
    KEY_REQUEST,
    chat,
    keys_with_alias,
    request_and_approve,
    reveal_key,
    start_worker,
    wait_for,
    wait_for_status,
)

pytestmark = [pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def submit_and_approve(client, org, **overrides) -> VirtualKey:
    return request_and_approve(client, org, "keys", KEY_REQUEST, **overrides)


def test_request_approve_provision_reveal_use_rotate_revoke(client, org, litellm, worker):
    key = submit_and_approve(client, org)
    key = wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    assert key.steps["team"]["result"] in ("created", "exists")
    assert key.steps["key"]["result"] == "created"
    assert key.expires_at > timezone.now() + datetime.timedelta(days=29)

    # The key in LiteLLM carries what the portal asked for.
    [remote] = keys_with_alias(litellm, key.alias)
    assert remote["team_id"] == "portal-alpha" and remote["user_id"] == org["dev_a"].entra_oid
    assert remote["models"] == ["gpt-4o-mini"] and float(remote["max_budget"]) == 5.0
    assert remote["metadata"]["portal_request_id"] == key.pk
    assert remote["metadata"]["department"] == "alpha"

    secret = reveal_key(client, key)
    assert secret.endswith(VirtualKey.objects.get(pk=key.pk).secret_last4)
    assert "sk-" not in client.get(f"/keys/{key.pk}/").content.decode().replace("sk-…", "")
    assert reveal_again_fails(client, key)

    answer = chat(litellm.base_url, secret)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Hello from the mock"
    assert chat(litellm.base_url, secret, model="claude-3-5-sonnet").status_code in (401, 403)

    # Rotate: the old secret is refused at once, the new one works.
    assert client.post(f"/keys/{key.pk}/rotate/").status_code == 302
    new_secret = reveal_key(client, key)
    assert new_secret != secret
    assert chat(litellm.base_url, secret).status_code in (400, 401, 403)
    assert chat(litellm.base_url, new_secret).status_code == 200

    # Revoke: refused.
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == Status.REVOKED
    assert chat(litellm.base_url, new_secret).status_code in (400, 401, 403)
    assert keys_with_alias(litellm, key.alias) == []


def reveal_again_fails(client, key) -> bool:
    response = client.post(f"/keys/{key.pk}/reveal/", follow=True)
    return 'id="secret"' not in response.content.decode()


def test_budget_exceeded_is_refused_by_litellm(client, org, litellm, worker):
    key = submit_and_approve(client, org, max_budget="0.01")
    wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    secret = reveal_key(client, key)
    assert chat(litellm.base_url, secret).status_code == 200

    def refused():
        response = chat(litellm.base_url, secret)
        return response if response.status_code in (400, 422, 429) else None

    response = wait_for(
        refused, timeout=60, interval=1, message="LiteLLM never enforced the budget"
    )
    assert "budget" in response.text.lower()


def test_expiry_job_ends_key_in_litellm(client, org, litellm, worker):
    key = submit_and_approve(client, org)
    wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    secret = reveal_key(client, key)
    VirtualKey.objects.filter(pk=key.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert tasks.expire_keys() == 1
    assert VirtualKey.objects.get(pk=key.pk).status == Status.EXPIRED
    assert chat(litellm.base_url, secret).status_code in (400, 401, 403)


def test_litellm_down_during_provisioning_retries_then_completes_once(
    client, org, litellm, fault_proxy
):
    fault_proxy.down = True
    worker = start_worker()
    try:
        key = submit_and_approve(client, org)
        wait_for(
            lambda: VirtualKey.objects.get(pk=key.pk).attempts >= 2, timeout=60, message="no retry"
        )
        assert VirtualKey.objects.get(pk=key.pk).status == Status.PROVISIONING
        fault_proxy.down = False
        wait_for_status(key.pk, Status.ACTIVE, worker=worker, timeout=90)
    finally:
        worker.stop()
    assert len(keys_with_alias(litellm, VirtualKey.objects.get(pk=key.pk).alias)) == 1


def test_worker_killed_after_litellm_made_the_key_finishes_with_one_key(
    client, org, litellm, fault_proxy, settings
):
    fault_proxy.hold_paths.add("/key/generate")
    first = start_worker()
    try:
        key = submit_and_approve(client, org)
        assert fault_proxy.held.wait(60), first.output()[-3000:]
        first.kill()  # LiteLLM made the key; the portal never stored its secret
    finally:
        first.stop()
    key = VirtualKey.objects.get(pk=key.pk)
    made = keys_with_alias(litellm, key.alias)
    assert key.status == Status.PROVISIONING and key.steps.get(services.KEY_PENDING)
    assert [k["token"] for k in made] == [key.litellm_key_id]  # the secret kept before asking

    settings.PROVISION_STALL_SECONDS = 0
    second = start_worker()
    try:
        assert approval_tasks.resume_stalled() == 1
        key = wait_for_status(key.pk, Status.ACTIVE, worker=second)
    finally:
        second.stop()
    assert key.steps["key"]["result"] == "exists"
    assert [k["token"] for k in keys_with_alias(litellm, key.alias)] == [key.litellm_key_id]
    secret = reveal_key(client, key)
    assert chat(litellm.base_url, secret).status_code == 200


def test_an_attempt_given_up_on_that_reaches_litellm_with_its_retry_makes_one_key(
    org, litellm, fault_proxy, settings
):
    """The first /key/generate is held before LiteLLM sees it until its caller has timed out;
    it then reaches LiteLLM at the same moment as the retry's. LiteLLM checks a key alias is
    unique before it inserts, so two different secrets could both pass; one secret cannot."""
    settings.LITELLM_TIMEOUT = 2
    fault_proxy.gates["/key/generate"] = threading.Barrier(2)
    key = make_key(org, status=Status.APPROVED, name="late")
    with pytest.raises(Unavailable):
        services.provision(key.pk)  # the caller gives up; its request waits at the gate
    services.provision(key.pk)  # the retry: both requests now reach LiteLLM together
    wait_for(lambda: len([f for f in fault_proxy.forwarded if "/key/generate" in f]) == 2)
    key = VirtualKey.objects.get(pk=key.pk)
    assert key.status == Status.ACTIVE
    assert [k["token"] for k in keys_with_alias(litellm, key.alias)] == [key.litellm_key_id]
    assert key.steps["key"]["result"] in ("created", "exists")


def test_refused_by_litellm_goes_to_failed_for_infra(client, org, litellm):
    """A refusal (here: a wrong master key, 401) is not retried: the request fails visibly."""
    worker = start_worker(LITELLM_MASTER_KEY="sk-not-the-master-key")
    try:
        key = submit_and_approve(client, org)
        key = wait_for_status(key.pk, Status.FAILED, worker=worker, timeout=60)
    finally:
        worker.stop()
    assert "401" in key.last_error and key.attempts == 1
    client.force_login(org["infra"])
    assert key.name in client.get("/operations/").content.decode()
    assert keys_with_alias(litellm, key.alias) == []


def test_a_revoke_whose_answer_never_comes_is_recorded_and_the_deletion_confirmed(
    client, org, litellm, fault_proxy, worker, settings
):
    """LiteLLM deleted the key but its answer never came (the client's timeout): the revoke is
    recorded, not rolled back into an active key LiteLLM no longer has, and the deletion is
    confirmed by a worker; a lost confirmation message is resumed by the stalled-work sweep.
    Found by the soak (bench/soak.py, seed 3, 300 s)."""
    key = submit_and_approve(client, org)
    key = wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    worker.stop()  # the confirmation's message is lost: nobody consumes it
    settings.LITELLM_TIMEOUT = 2
    fault_proxy.hold_paths.add("/key/delete")
    services.revoke(key, actor=org["dev_a"])
    assert fault_proxy.held.is_set()
    key.refresh_from_db()
    assert key.status == Status.REVOKED and key.steps["purge"] == "pending"
    assert keys_with_alias(litellm, key.alias) == []  # LiteLLM had acted

    settings.PROVISION_STALL_SECONDS = 0
    again = start_worker()
    try:
        assert approval_tasks.resume_stalled() == 1
        wait_for(lambda: VirtualKey.objects.get(pk=key.pk).steps["purge"] == "done", timeout=60)
    finally:
        again.stop()


def test_a_rotation_whose_last_answer_never_comes_is_repaired_to_one_working_key(
    client, org, litellm, fault_proxy, worker, settings
):
    """LiteLLM made the new key and deleted the old one, but its last answer never came: the
    portal rolled back to the old token. A worker repairs it (marked, resumed by the sweep):
    one key under the alias, the one the portal holds, with a secret to reveal. Found by the
    soak (bench/soak.py, seed 3, 300 s)."""
    key = submit_and_approve(client, org)
    key = wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    old = key.litellm_key_id
    settings.LITELLM_TIMEOUT = 2
    fault_proxy.hold_paths.add("/key/delete")
    with pytest.raises(IntegrationError):
        services.rotate(key, actor=org["dev_a"])
    assert VirtualKey.objects.get(pk=key.pk).litellm_key_id == old  # rolled back

    wait_for(lambda: "rotation" not in VirtualKey.objects.get(pk=key.pk).steps, timeout=60)
    key.refresh_from_db()
    remote = keys_with_alias(litellm, key.alias)
    assert [k["token"] for k in remote] == [key.litellm_key_id] and key.litellm_key_id != old
    assert keys_with_alias(litellm, f"{key.alias}-rotating") == []
    assert chat(litellm.base_url, reveal_key(client, key)).status_code == 200
