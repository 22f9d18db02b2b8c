"""Keys and approvals through the API: the page's form and workflow, problem details,
reveal once, idempotent retries (also racing), rate limits."""

import datetime
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal.models import AuditEvent

from .api_support import KEY_BODY
from .factories import after_commit, make_key

pytestmark = pytest.mark.django_db


def request_key(api, who, **changes):
    response = api.post(who, "/keys", {**KEY_BODY, **changes})
    assert response.status_code == 201, response.content
    return response.json()


def test_a_request_goes_through_the_workflow_and_a_lead_approves_it(
    api, org, django_capture_on_commit_callbacks
):
    key = request_key(api, org["dev_a"])
    assert key["status"] == "submitted" and key["department"] == "alpha"
    assert AuditEvent.objects.filter(action="virtualkey.submitted", actor=org["dev_a"]).exists()
    queue = api.get(org["lead_a"], "/requests/queue?kind=key").json()["results"]
    assert [r["id"] for r in queue] == [key["id"]]
    assert api.get(org["lead_b"], "/requests/queue").json()["results"] == []
    with django_capture_on_commit_callbacks() as callbacks:
        decided = api.post(
            org["lead_a"],
            f"/requests/key/{key['id']}/decision",
            {"decision": "approve", "max_budget": "10", "comment": "10 to start."},
        )
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "approved"
    assert VirtualKey.objects.get(pk=key["id"]).max_budget == 10
    assert after_commit(callbacks)  # provisioning enqueued after commit


def test_the_departments_policy_is_checked_by_the_pages_form(api, org):
    response = api.post(org["dev_a"], "/keys", {**KEY_BODY, "max_budget": "5000"})
    assert response.status_code == 422
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert "max_budget" in body["errors"]
    response = api.post(org["dev_a"], "/keys", {**KEY_BODY, "department": "beta"})
    assert response.status_code == 422 and "department" in response.json()["errors"]


def test_schema_errors_are_problems_too(api, org):
    response = api.post(org["dev_a"], "/keys", {"name": "x"})
    assert response.status_code == 422 and response.json()["type"].endswith("invalid-request")


def test_nobody_approves_their_own_request_and_a_reject_needs_a_comment(api, org):
    key = request_key(api, org["lead_a"])
    own = api.post(org["lead_a"], f"/requests/key/{key['id']}/decision", {"decision": "approve"})
    assert own.status_code == 403
    other = api.post(org["lead_b"], f"/requests/key/{key['id']}/decision", {"decision": "approve"})
    assert other.status_code == 404  # another department's request is not even confirmed
    bare = api.post(org["infra"], f"/requests/key/{key['id']}/decision", {"decision": "reject"})
    assert bare.status_code == 422 and "comment" in bare.json()["errors"]
    done = api.post(
        org["infra"], f"/requests/key/{key['id']}/decision", {"decision": "reject", "comment": "no"}
    )
    assert done.json()["status"] == "rejected"
    again = api.post(
        org["infra"], f"/requests/key/{key['id']}/decision", {"decision": "reject", "comment": "no"}
    )
    assert again.status_code == 409  # already decided: the state machine refuses


def test_reveal_once_with_no_store_then_gone(api, org, settings):
    settings.LITELLM_PUBLIC_URL = "https://llm.example.org"
    key = request_key(api, org["dev_a"])
    obj = VirtualKey.objects.get(pk=key["id"])
    obj.status = Status.ACTIVE
    obj.store_secret("sk-secret-1234")
    obj.save()
    assert api.post(org["lead_a"], f"/keys/{obj.pk}/reveal").status_code == 410  # not theirs
    first = api.post(org["dev_a"], f"/keys/{obj.pk}/reveal")
    assert first.status_code == 200
    assert first["Cache-Control"] == "no-store"
    assert first.json()["secret"] == "sk-secret-1234"
    assert first.json()["settings"]["OPENAI_BASE_URL"] == "https://llm.example.org"
    setup = first.json()["setup"]  # the reveal page's snippets, the same text
    assert "sk-secret-1234" in setup["env"] and "https://llm.example.org/v1" in setup["continue"]
    second = api.post(org["dev_a"], f"/keys/{obj.pk}/reveal")
    assert second.status_code == 410
    assert AuditEvent.objects.filter(action="virtualkey.revealed").count() == 1
    assert "sk-secret-1234" not in str(list(AuditEvent.objects.values("before", "after")))


def test_a_service_principal_requests_only_service_keys_of_its_department(api, org):
    key = request_key(api, org["sp_keys"], kind="personal")
    assert key["kind"] == "service" and key["requester"] == org["sp_keys"].user.email
    assert api.post(org["sp_none"], "/keys", KEY_BODY).status_code == 403
    assert api.post(org["sp_keys"], "/keys", {**KEY_BODY, "department": "beta"}).status_code == 422
    listed = api.get(org["sp_keys"], "/keys").json()["results"]
    assert [k["id"] for k in listed] == [key["id"]]


def test_cancel_and_extend(api, org):
    key = request_key(api, org["dev_a"])
    assert api.post(org["lead_a"], f"/keys/{key['id']}/cancel").status_code == 403
    assert api.post(org["dev_a"], f"/keys/{key['id']}/cancel").json()["status"] == "cancelled"
    body = {"lifetime_days": 10, "justification": "more"}
    refused = api.post(org["dev_a"], f"/keys/{key['id']}/extend", body)
    assert refused.status_code == 409  # only a live key is extended
    live = make_key(org, status="active", litellm_key_id="tok-api", expires_at=timezone.now())
    extension = api.post(org["dev_a"], f"/keys/{live.pk}/extend", body)
    assert extension.status_code == 201, extension.content
    assert extension.json()["key_id"] == live.pk and extension.json()["status"] == "submitted"
    assert extension.json()["lifetime_days"] == 10
    assert VirtualKey.objects.count() == 2  # no new key: the same one, a later expiry
    second = api.post(org["dev_a"], f"/keys/{live.pk}/extend", {**body, "lifetime_days": 0})
    assert second.status_code == 409  # one extension waits already
    queue = api.get(org["lead_a"], "/requests/queue?kind=extension").json()["results"]
    assert [r["id"] for r in queue] == [extension.json()["id"]]
    approve = {"decision": "approve"}
    path = f"/requests/extension/{extension.json()['id']}/decision"
    assert api.post(org["dev_a"], path, approve).status_code == 403  # never their own


def test_revoking_a_pending_request_is_refused_by_the_state_machine(api, org):
    key = request_key(api, org["dev_a"])
    assert api.post(org["dev_b"], f"/keys/{key['id']}/revoke").status_code == 404
    response = api.post(org["dev_a"], f"/keys/{key['id']}/revoke")
    assert response.status_code == 409 and response.json()["title"] == "Refused"


def test_rotating_someone_elses_key_is_forbidden(api, org):
    key = request_key(api, org["dev_a"])
    assert api.post(org["lead_a"], f"/keys/{key['id']}/rotate").status_code == 403


def test_lists_are_cursor_paginated(api, org):
    ids = [request_key(api, org["dev_a"], name=f"key-{i}")["id"] for i in range(3)]
    page = api.get(org["dev_a"], "/keys?page_size=2").json()
    assert [k["id"] for k in page["results"]] == ids[::-1][:2]
    rest = api.get(org["dev_a"], page["next"].split("/api/v1", 1)[1]).json()
    assert [k["id"] for k in rest["results"]] == ids[:1]


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(api, org):
    headers = {"HTTP_IDEMPOTENCY_KEY": "pipeline-run-42"}
    first = api.post(org["dev_a"], "/keys", KEY_BODY, **headers)
    second = api.post(org["dev_a"], "/keys", KEY_BODY, **headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert VirtualKey.objects.filter(requester=org["dev_a"]).count() == 1
    changed = api.post(org["dev_a"], "/keys", {**KEY_BODY, "name": "other"}, **headers)
    assert changed.status_code == 422
    # Keys are per identity: another person's same key is a new request.
    assert (
        api.post(org["dev_b"], "/keys", {**KEY_BODY, "department": "beta"}, **headers).status_code
        == 201
    )  # noqa: E501


@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_idempotency_key_create_one_request(api, org):
    barrier = threading.Barrier(3)
    results = []

    def send():
        try:
            barrier.wait(10)
            results.append(api.post(org["dev_a"], "/keys", KEY_BODY, HTTP_IDEMPOTENCY_KEY="race-1"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [201, 201, 201]
    assert len({r.json()["id"] for r in results}) == 1
    assert VirtualKey.objects.filter(requester=org["dev_a"]).count() == 1
    assert sum(r.has_header("Idempotent-Replayed") for r in results) == 2


# The limit counts in fixed one-minute windows of the clock (api/throttling.py): the clock is
# held still, so calls never cross a minute boundary unless a test moves it across on purpose.
MINUTE = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def test_rate_limit_per_identity_with_retry_after(api, org, settings):
    settings.API_RATE_LIMIT = "3/m"
    with time_machine.travel(MINUTE + datetime.timedelta(seconds=5), tick=False) as clock:
        for _ in range(3):
            assert api.get(org["dev_a"], "/me").status_code == 200
        limited = api.get(org["dev_a"], "/me")
        assert limited.status_code == 429
        assert limited["Content-Type"] == "application/problem+json"
        assert limited["Retry-After"] == "55"  # the rest of the minute
        assert api.get(org["dev_b"], "/me").status_code == 200  # another identity: its own
        clock.move_to(MINUTE + datetime.timedelta(seconds=59, microseconds=500_000))
        limited = api.get(org["dev_a"], "/me")
        assert limited.status_code == 429 and limited["Retry-After"] == "1"  # rounded up


def test_rate_limit_window_starts_again_at_the_minute_boundary(api, org, settings):
    settings.API_RATE_LIMIT = "3/m"
    with time_machine.travel(MINUTE + datetime.timedelta(seconds=58), tick=False) as clock:
        for _ in range(3):
            assert api.get(org["dev_a"], "/me").status_code == 200
        assert api.get(org["dev_a"], "/me").status_code == 429
        clock.move_to(MINUTE + datetime.timedelta(seconds=59, microseconds=999_000))
        assert api.get(org["dev_a"], "/me").status_code == 429  # the last millisecond
        clock.move_to(MINUTE + datetime.timedelta(minutes=1))  # 12:01:00.000, a new window
        for _ in range(3):
            assert api.get(org["dev_a"], "/me").status_code == 200
        limited = api.get(org["dev_a"], "/me")
        assert limited.status_code == 429 and limited["Retry-After"] == "60"
        # A fixed window (one atomic INCR per call): a burst straddling the boundary gets
        # the limit on each side of it.
        clock.move_to(MINUTE + datetime.timedelta(minutes=2, seconds=-0.5))
        assert [api.get(org["dev_b"], "/me").status_code for _ in range(4)] == [200] * 3 + [429]
        clock.shift(1)
        assert [api.get(org["dev_b"], "/me").status_code for _ in range(4)] == [200] * 3 + [429]


def test_stored_answers_are_forgotten_after_the_retention(api, org, settings):

    from django.utils import timezone

    from api.models import IdempotencyRecord
    from api.tasks import purge_idempotency_records

    api.post(org["dev_a"], "/keys", KEY_BODY, HTTP_IDEMPOTENCY_KEY="old")
    api.post(org["dev_a"], "/keys", KEY_BODY, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - datetime.timedelta(hours=settings.API_IDEMPOTENCY_HOURS + 1)
    )
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
