"""Promises that must hold against an infra user in the admin and against leavers."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals import workflow
from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal import crypto
from portal.integrations.litellm import LiteLLMClient
from portal.models import AuditEvent
from tenants import directory
from tenants.models import Membership, User
from tenants.signals import member_left

from . import factories
from .integration import chat, keys_with_alias, wait_for
from .test_directory import entra, graph, graph_client, infra_group, mirror_org, sleeps  # noqa: F401

pytestmark = pytest.mark.django_db


def make_key(org, **extra) -> VirtualKey:
    return factories.make_key(org, **{"name": "hardening-probe", **extra})


# --- the admin cannot do what the workflow forbids --------------------------------------------
def test_infra_cannot_approve_or_reassign_in_the_admin(org, client):
    own = make_key(org, requester=org["infra"], status=Status.SUBMITTED)
    waiting = make_key(org, status=Status.ACTIVE, litellm_key_id="tok")
    waiting.store_secret("sk-developers-secret")
    waiting.save()
    client.force_login(org["infra"])

    # Infra may look (view-only) ...
    assert client.get("/admin/keys/virtualkey/").status_code == 200
    page = client.get(f"/admin/keys/virtualkey/{own.pk}/change/")
    assert page.status_code == 200 and b'name="status"' not in page.content
    # ... but not approve its own request, nor hand a developer's secret to itself.
    data = {"status": "approved", "requester": org["infra"].pk, "name": "hardening-probe"}
    assert client.post(f"/admin/keys/virtualkey/{own.pk}/change/", data).status_code == 403
    assert client.post(f"/admin/keys/virtualkey/{waiting.pk}/change/", data).status_code == 403
    assert client.post("/admin/keys/virtualkey/add/", data).status_code == 403
    own.refresh_from_db()
    waiting.refresh_from_db()
    assert own.status == Status.SUBMITTED and waiting.requester == org["dev_a"]
    assert workflow.reveal(VirtualKey, waiting.pk, user=org["infra"]) is None


def test_infra_cannot_make_itself_superuser(org, client):
    infra = org["infra"]
    client.force_login(infra)
    page = client.get(f"/admin/tenants/user/{infra.pk}/change/")
    assert page.status_code == 200 and b'name="is_superuser"' not in page.content
    client.post(
        f"/admin/tenants/user/{infra.pk}/change/",
        {"username": infra.username, "is_superuser": "on", "is_active": "on"},
    )
    infra.refresh_from_db()
    assert not infra.is_superuser


def test_break_glass_superuser_sign_in_is_audited(client):
    admin = User.objects.create_superuser("breakglass", "bg@example.com", "pw-for-test-only")
    assert client.login(username="breakglass", password="pw-for-test-only")
    assert AuditEvent.objects.filter(
        action="user.superuser_signed_in", object_id=str(admin.pk)
    ).exists()


# --- leavers ----------------------------------------------------------------------------------
def leave(user, department) -> None:
    with transaction.atomic():  # as the directory sync does
        Membership.objects.filter(user=user, department=department).delete()
        member_left.send(sender=User, user=user, reason="removed from every group")


@pytest.mark.litellm
def test_leavers_open_requests_are_cancelled_and_cleaned_up_in_litellm(
    org, client, litellm, worker
):
    """The clean-up runs for real: the sync's transaction commits, its on-commit callbacks
    enqueue the purge, a real worker runs it against the real proxy."""
    submitted = make_key(org, status=Status.SUBMITTED)
    # A run that died mid-provisioning: LiteLLM already has a key under the request's alias.
    provisioning = make_key(org, name=f"half-made-{uuid.uuid4().hex[:6]}", status=Status.APPROVED)
    VirtualKey.objects.filter(pk=provisioning.pk).update(status=Status.PROVISIONING)
    api = LiteLLMClient(litellm.base_url, litellm.master_key)
    orphan = api.generate_key(key_alias=provisioning.alias)
    assert chat(litellm.base_url, orphan["key"]).status_code == 200
    assert len(keys_with_alias(litellm, provisioning.alias)) == 1

    leave(org["dev_a"], org["a"])  # commits: the callbacks run, the worker picks them up

    for key in (submitted, provisioning):
        key.refresh_from_db()
        assert key.status == Status.CANCELLED and "requester left" in key.last_error
    wait_for(
        lambda: keys_with_alias(litellm, provisioning.alias) == [],
        timeout=60,
        message=f"the half-made key is still in LiteLLM\n{worker.output()[-3000:]}",
    )
    assert chat(litellm.base_url, orphan["key"]).status_code in (400, 401, 403)
    client.force_login(org["lead_a"])
    assert submitted.name not in client.get("/approvals/").content.decode()


def test_request_of_someone_who_left_cannot_be_approved(org):
    key = make_key(org, status=Status.SUBMITTED)
    Membership.objects.filter(user=org["dev_a"]).delete()  # left, before any sync ran
    with pytest.raises(ValidationError):
        workflow.approve(key, actor=org["lead_a"])
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_provisioning_stops_for_someone_who_left(org):
    key = make_key(org, status=Status.APPROVED)
    User.objects.filter(pk=org["dev_a"].pk).update(is_active=False)
    assert not key.start_provisioning()
    key.refresh_from_db()
    assert key.status == Status.CANCELLED


def test_a_leaver_cannot_reveal_a_waiting_secret(org):
    key = make_key(org, status=Status.ACTIVE, litellm_key_id="tok")
    key.store_secret("sk-waiting")
    key.save()
    Membership.objects.filter(user=org["dev_a"]).delete()
    assert workflow.reveal(VirtualKey, key.pk, user=org["dev_a"]) is None
    assert crypto.decrypt(VirtualKey.objects.get(pk=key.pk).secret_encrypted) == "sk-waiting"


def test_a_secret_kept_while_the_key_is_provisioning_is_not_shown_until_it_is_live(org):
    key = make_key(org, status=Status.PROVISIONING, litellm_key_id="tok")
    key.store_secret("sk-kept-before-asking")  # ensure_key keeps it before LiteLLM confirms
    key.save()
    assert not key.secret_waiting
    assert workflow.reveal(VirtualKey, key.pk, user=org["dev_a"]) is None
    VirtualKey.objects.filter(pk=key.pk).update(status=Status.ACTIVE)
    assert workflow.reveal(VirtualKey, key.pk, user=org["dev_a"]) == "sk-kept-before-asking"


def test_disabled_user_with_only_manual_memberships_is_offboarded(
    org,
    entra,  # noqa: F811
    graph_client,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    mirror_org(entra, org)
    contractor = User.objects.create(
        username="c@example.com", email="c@example.com", entra_oid="oid-contractor"
    )
    Membership.objects.create(
        user=contractor, department=org["a"], role="member", source=Membership.Source.MANUAL
    )
    entra.add_user("oid-contractor", "c@example.com", "Contractor", [])  # in no mapped group
    key = make_key(org, requester=contractor, status=Status.SUBMITTED)
    entra.users["oid-contractor"].account_enabled = False

    with django_capture_on_commit_callbacks(execute=False):
        run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    contractor.refresh_from_db()
    key.refresh_from_db()
    assert not contractor.is_active
    assert key.status == Status.CANCELLED
    assert any(c["kind"] == "offboarded" for c in run.changes)
