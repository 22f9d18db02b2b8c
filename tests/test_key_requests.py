"""Requesting and deciding virtual keys: policy, permissions, notifications, hand-over."""

from decimal import Decimal

import pytest
from django.core import mail

from approvals import workflow
from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal.models import AuditEvent

from . import factories
from .factories import after_commit

pytestmark = pytest.mark.django_db

VALID = {
    "name": "support-bot",
    "kind": "personal",
    "llm_models": ["gpt-4o-mini"],
    "max_budget": "50",
    "budget_duration": "30d",
    "rpm_limit": "30",
    "tpm_limit": "20000",
    "lifetime_days": "30",
    "justification": "Prototype of the support assistant.",
}


def submit(client, user, dept, **overrides):
    client.force_login(user)
    data = {**VALID, "department": dept.pk, **overrides}
    return client.post("/keys/request/", data)


def make_key(org, **extra) -> VirtualKey:
    fields = {"max_budget": Decimal("50"), "rpm_limit": 30, "justification": "because"}
    return factories.make_key(org, **{**fields, **extra})


def test_developer_submits_and_leads_are_emailed(org, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, org["dev_a"], org["a"])
    key = VirtualKey.objects.get()
    assert response.status_code == 302 and response.url == f"/keys/{key.pk}/"
    assert key.status == Status.SUBMITTED and key.requester == org["dev_a"]
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"]]
    assert "support-bot" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(action="virtualkey.submitted", object_id=str(key.pk)).exists()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("llm_models", ["gpt-4o"], "may not use: gpt-4o"),
        ("max_budget", "1000", "at most USD 100"),
        ("rpm_limit", "5000", "at most 60 requests per minute"),
        ("lifetime_days", "400", "at most 90 days"),
        ("justification", "", "This field is required"),
        ("max_budget", "-5", "greater than"),
    ],
)
def test_policy_violations_are_explained_on_the_form(org, client, field, value, message):
    # dev_a is also in beta, which may use gpt-4o: the form offers it, alpha's policy refuses it.
    org["b"].allowed_models = ["gpt-4o"]
    org["b"].save()
    org["b"].memberships.create(user=org["dev_a"], role="member")
    response = submit(client, org["dev_a"], org["a"], **{field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not VirtualKey.objects.exists()


def test_cannot_request_for_a_department_you_are_not_in(org, client):
    response = submit(client, org["dev_a"], org["b"])
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_auto_approval_when_policy_allows(org, client, django_capture_on_commit_callbacks):
    org["a"].auto_approve_max_budget = Decimal("50")
    org["a"].auto_approve_max_lifetime_days = 30
    org["a"].save()
    with django_capture_on_commit_callbacks() as callbacks:
        submit(client, org["dev_a"], org["a"])
    key = VirtualKey.objects.get()
    assert key.status == Status.APPROVED and key.auto_approved and key.decided_by is None
    assert len(after_commit(callbacks)) >= 2  # decision mail + provisioning enqueued after commit


def test_over_threshold_is_not_auto_approved(org, client):
    org["a"].auto_approve_max_budget = Decimal("10")
    org["a"].auto_approve_max_lifetime_days = 30
    org["a"].save()
    submit(client, org["dev_a"], org["a"])
    assert VirtualKey.objects.get().status == Status.SUBMITTED


def test_queue_shows_only_my_departments_requests(org, client):
    make_key(org, name="from-a")
    make_key(org, requester=org["dev_b"], department=org["b"], name="from-b")
    client.force_login(org["lead_a"])
    html = client.get("/approvals/").content.decode()
    assert "from-a" in html and "from-b" not in html
    assert 'id="pending-count">1<' in html


def test_lead_approves_with_lowered_budget(org, client, django_capture_on_commit_callbacks):
    key = make_key(org)
    client.force_login(org["lead_a"])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            f"/approvals/keys/{key.pk}/",
            {"decision": "approve", "max_budget": "20", "comment": "start small"},
        )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (
        key.status == Status.APPROVED
        and key.max_budget == Decimal("20")
        and key.decided_by == org["lead_a"]
    )
    assert len(after_commit(callbacks)) == 2  # e-mail to the requester, then the provisioning task
    event = AuditEvent.objects.get(action="virtualkey.approved")
    assert Decimal(event.before["max_budget"]) == 50 and Decimal(event.after["max_budget"]) == 20


def test_approval_cannot_raise_limits(org, client):
    key = make_key(org)
    client.force_login(org["lead_a"])
    response = client.post(
        f"/approvals/keys/{key.pk}/", {"decision": "approve", "max_budget": "90"}
    )
    assert response.status_code == 200 and "lower what was asked for" in response.content.decode()
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED


def test_reject_needs_a_comment_and_tells_the_requester(
    org, client, django_capture_on_commit_callbacks
):
    key = make_key(org)
    client.force_login(org["lead_a"])
    assert client.post(f"/approvals/keys/{key.pk}/", {"decision": "reject"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": "use the shared key"}
        )
    key.refresh_from_db()
    assert key.status == Status.REJECTED and key.decision_comment == "use the shared key"
    assert mail.outbox[-1].to == ["dev_a@example.com"]


def test_nobody_approves_their_own_request(org, client):
    key = make_key(org, requester=org["lead_a"])
    client.force_login(org["lead_a"])
    assert client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"}).status_code == 403
    assert "from" not in client.get("/approvals/").content.decode().split("approval-queue")[1][:0]
    assert not VirtualKey.objects.pending_for(org["lead_a"]).exists()
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED


def test_lead_of_another_department_sees_nothing(org, client):
    key = make_key(org)
    client.force_login(org["lead_b"])
    assert client.get(f"/keys/{key.pk}/").status_code == 404
    assert client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"}).status_code == 404
    client.force_login(org["dev_b"])
    assert client.get(f"/keys/{key.pk}/").status_code == 404


def test_infra_can_decide_any_department(org, client):
    key = make_key(org)
    client.force_login(org["infra"])
    assert client.get(f"/approvals/keys/{key.pk}/").status_code == 200


def test_secret_is_revealed_once_to_its_owner_only(org, client):
    key = make_key(org, status=Status.ACTIVE)
    key.store_secret("sk-abcdefghijklmnop1234")
    key.save()
    assert "sk-abcdefghijklmnop1234" not in key.secret_encrypted
    client.force_login(org["lead_a"])
    response = client.post(f"/keys/{key.pk}/reveal/")
    assert response.status_code == 302  # not the owner: nothing shown, secret kept
    key.refresh_from_db()
    assert key.secret_encrypted
    client.force_login(org["dev_a"])
    response = client.post(f"/keys/{key.pk}/reveal/")
    assert response.status_code == 200 and "sk-abcdefghijklmnop1234" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key.refresh_from_db()
    assert key.secret_encrypted == "" and key.secret_last4 == "1234" and key.secret_revealed_at
    again = client.post(f"/keys/{key.pk}/reveal/", follow=True)
    assert "sk-abcdefghijklmnop1234" not in again.content.decode()
    assert "already been shown" in again.content.decode()
    for event in AuditEvent.objects.all():
        assert "sk-abcdefghijklmnop1234" not in str(event.before) + str(event.after)


def test_reveal_is_post_only(org, client):
    key = make_key(org, status=Status.ACTIVE)
    client.force_login(org["dev_a"])
    assert client.get(f"/keys/{key.pk}/reveal/").status_code == 405


def test_my_keys_lists_only_mine_with_bounded_queries(org, client, django_assert_max_num_queries):
    for i in range(30):
        make_key(org, name=f"k{i}")
    make_key(org, requester=org["dev_b"], department=org["b"], name="someone-else")
    client.force_login(org["dev_a"])
    with django_assert_max_num_queries(12):
        html = client.get("/keys/").content.decode()
    assert "someone-else" not in html and "Page 1 of 2" in html


def test_requester_can_cancel_a_pending_request(org, client):
    key = make_key(org)
    client.force_login(org["dev_a"])
    client.post(f"/keys/{key.pk}/cancel/")
    key.refresh_from_db()
    assert key.status == Status.CANCELLED


def test_infra_retry_puts_failed_request_back(org, client, django_capture_on_commit_callbacks):
    key = make_key(org, status=Status.FAILED, last_error="LiteLLM HTTP 400: bad model")
    client.force_login(org["infra"])
    assert "bad model" in client.get("/operations/").content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(f"/operations/retry/key/{key.pk}/")
    key.refresh_from_db()
    assert key.status == Status.APPROVED and len(after_commit(callbacks)) == 1
    client.force_login(org["lead_a"])
    assert client.get("/operations/").status_code == 403


def test_state_machine_refuses_wrong_transitions(org):
    from django.core.exceptions import ValidationError

    key = make_key(org, status=Status.ACTIVE)
    with pytest.raises(ValidationError):
        workflow.reject(key, actor=org["lead_a"], comment="no")
