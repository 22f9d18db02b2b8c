"""Extending a key in place: the request, its decision by the department's policy, the page,
the API and the expiry sweep. The LiteLLM side runs against the real proxy in
``test_key_extension_journey.py``."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from approvals import registry, workflow
from approvals import tasks as approval_tasks
from approvals.lifecycle import Status
from keys import extensions, services, tasks
from keys.models import KeyExtension
from portal.models import AuditEvent

from .approvals_helpers import LEADS, make_policy
from .factories import after_commit, make_key

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


def live_key(org, **fields):
    defaults = {
        "status": Status.ACTIVE,
        "litellm_key_id": "tok-live",
        "activated_at": NOW - datetime.timedelta(days=20),
        "expires_at": NOW + datetime.timedelta(days=10),
    }
    return make_key(org, **{**defaults, **fields})


def auto_rule(department, *, budget="10", days=30) -> None:
    department.auto_approve_max_budget = Decimal(budget)
    department.auto_approve_max_lifetime_days = days
    department.save()


@time_machine.travel(NOW, tick=False)
def test_within_the_auto_approval_rule_it_is_approved_and_applied_after_commit(
    org, django_capture_on_commit_callbacks
):
    auto_rule(org["a"])
    key = live_key(org)
    with django_capture_on_commit_callbacks() as callbacks:
        ext = extensions.request_extension(key, actor=org["dev_a"], days=14, justification="More")
        ext.refresh_from_db()
        assert ext.status == Status.APPROVED and ext.auto_approved
    assert ext.new_expires_at == key.expires_at + datetime.timedelta(days=14)
    assert ext.previous_expires_at == key.expires_at
    # The worker is asked only once the approval is committed, and it is the extension task.
    queued = [c for c in after_commit(callbacks) if "enqueue_provisioning" in c.__qualname__]
    assert len(queued) == 1
    assert registry.task(ext, "provision") is tasks.extend_key
    assert ext.key.litellm_key_id == "tok-live"  # the same key: no new secret, no new row
    assert not key.extension_requests.exclude(pk=ext.pk).exists()


@time_machine.travel(NOW, tick=False)
def test_over_the_rule_it_waits_for_a_lead_and_never_for_the_requester(
    org, django_capture_on_commit_callbacks
):
    auto_rule(org["a"], days=7)
    key = live_key(org)
    with django_capture_on_commit_callbacks(execute=True):
        ext = extensions.request_extension(key, actor=org["dev_a"], days=14, justification="x")
    assert ext.status == Status.SUBMITTED and not ext.auto_approved
    assert "lead_a@example.com" in [m.to[0] for m in mail.outbox]
    assert not ext.can_decide(org["dev_a"])
    with pytest.raises(PermissionDenied):
        workflow.approve(ext, actor=org["dev_a"])
    assert workflow.approve(ext, actor=org["lead_a"]) == "approved"
    ext.refresh_from_db()
    assert ext.status == Status.APPROVED and ext.decided_by == org["lead_a"]


@time_machine.travel(NOW, tick=False)
def test_the_departments_stages_decide_an_extension_like_any_request(org):
    make_policy(org["a"], LEADS)
    ext = extensions.request_extension(
        live_key(org), actor=org["dev_a"], days=5, justification="More"
    )
    assert ext.status == Status.SUBMITTED
    assert KeyExtension.objects.pending_for(org["lead_a"]).filter(pk=ext.pk).exists()
    assert not KeyExtension.objects.pending_for(org["dev_a"]).exists()
    assert workflow.approve(ext, actor=org["lead_a"]) == "approved"


@time_machine.travel(NOW, tick=False)
def test_refused_for_someone_else_a_key_not_live_past_the_policy_or_twice(org):
    key = live_key(org)
    with pytest.raises(PermissionDenied):
        extensions.request_extension(key, actor=org["lead_a"], days=5, justification="x")
    limit = org["a"].max_key_lifetime_days
    with pytest.raises(ValidationError, match="at most"):
        extensions.request_extension(key, actor=org["dev_a"], days=limit, justification="x")
    extensions.request_extension(key, actor=org["dev_a"], days=5, justification="x")
    with pytest.raises(ValidationError, match="already waiting"):
        extensions.request_extension(key, actor=org["dev_a"], days=5, justification="x")
    revoked = make_key(org, status=Status.REVOKED, name="gone")
    with pytest.raises(ValidationError, match="cannot be extended"):
        extensions.request_extension(revoked, actor=org["dev_a"], days=5, justification="x")


@time_machine.travel(NOW, tick=False)
def test_submitting_and_approving_are_audited(org):
    ext = extensions.request_extension(live_key(org), actor=org["dev_a"], days=5, justification="x")
    workflow.approve(ext, actor=org["lead_a"])
    actions = set(AuditEvent.objects.filter(object_id=str(ext.pk)).values_list("action", flat=True))
    assert {"keyextension.submitted", "keyextension.approved"} <= actions


@time_machine.travel(NOW, tick=False)
def test_a_key_that_ended_meanwhile_cancels_the_extension_without_calling_litellm(org):
    key = live_key(org)
    ext = extensions.request_extension(key, actor=org["dev_a"], days=5, justification="x")
    workflow.approve(ext, actor=org["lead_a"])
    type(key).objects.filter(pk=key.pk).update(status=Status.REVOKED)
    extensions.apply(ext.pk)  # no LiteLLM configured: a call would fail
    ext.refresh_from_db()
    assert ext.status == Status.CANCELLED and "revoked" in ext.last_error


def test_the_expiry_sweep_keeps_a_key_extended_past_its_first_end(org):
    key = live_key(org)
    first_end = key.expires_at
    type(key).objects.filter(pk=key.pk).update(expires_at=first_end + datetime.timedelta(days=7))
    with time_machine.travel(first_end + datetime.timedelta(hours=1), tick=False):
        assert services.expire(key.pk) is False  # the portal's old end no longer applies
        assert tasks.expire_keys() == 0
    key.refresh_from_db()
    assert key.status == Status.ACTIVE


@time_machine.travel(NOW, tick=False)
def test_the_expiry_reminder_links_to_the_extend_page(org, django_capture_on_commit_callbacks):
    key = live_key(org, expires_at=NOW + datetime.timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert approval_tasks.remind_expiring() == 1
    [message] = mail.outbox
    assert f"/keys/{key.pk}/extend/" in message.body


@time_machine.travel(NOW, tick=False)
def test_the_extend_page_submits_and_says_where_it_stands(client, org):
    key = live_key(org)
    client.force_login(org["dev_a"])
    page = client.get(f"/keys/{key.pk}/extend/")
    assert page.status_code == 200 and 'id="extension-form"' in page.content.decode()
    bad = client.post(f"/keys/{key.pk}/extend/", {"days": "0", "justification": "x"})
    assert bad.status_code == 200 and "has-error" in bad.content.decode()
    done = client.post(
        f"/keys/{key.pk}/extend/", {"days": "7", "justification": "More"}, follow=True
    )
    assert "waits for approval" in done.content.decode()
    again = client.get(f"/keys/{key.pk}/extend/").content.decode()
    assert 'id="extension-refused"' in again
    client.force_login(org["lead_a"])
    ext = KeyExtension.objects.get()
    decision = client.get(f"/approvals/extensions/{ext.pk}/").content.decode()
    assert 'id="new-expiry"' in decision
    client.force_login(org["dev_a"])
    with translation.override("ja"):
        ja = client.get(f"/keys/{key.pk}/extend/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "延長" in ja


@time_machine.travel(NOW, tick=False)
def test_the_approved_message_and_the_queue_summary(org):
    ext = extensions.request_extension(live_key(org), actor=org["dev_a"], days=5, justification="x")
    assert "+5" in extensions.summary(ext)
    assert ext.get_absolute_url() == f"/keys/{ext.key_id}/"
    assert timezone.now() < ext.new_expires_at
