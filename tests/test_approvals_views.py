"""The approvers' pages: the request page's stages, decisions through the existing decision
page, bulk decisions with the same checks per request, delegations, infra's SLA page."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals import engine
from approvals.lifecycle import Status
from approvals.models import Delegation, Policy
from keys.models import VirtualKey
from portal.models import AuditEvent

from .approvals_helpers import INFRA_OVER_50, LEADS, make_policy, submit_key
from .conftest import make_user

pytestmark = pytest.mark.django_db


def test_request_page_shows_stages_and_where_it_stands(client, org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    client.force_login(org["dev_a"])
    html = client.get(f"/keys/{key.pk}/").content.decode()
    assert 'id="approval-stages"' in html
    assert 'aria-current="step"' in html and "Lead" in html and "Infra" in html


def test_decision_page_records_a_stage_vote_and_says_so(client, org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    client.force_login(org["lead_a"])
    response = client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"}, follow=True)
    assert "moves on when its stage is" in response.content.decode()
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED
    client.force_login(org["infra"])
    client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
    assert VirtualKey.objects.get(pk=key.pk).status == Status.APPROVED


def test_infra_cannot_jump_the_lead_stage_on_the_decision_page(client, org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    client.force_login(org["infra"])
    assert client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"}).status_code == 403


def test_a_bulk_row_decides_only_the_stage_it_showed(client, org):
    """An inbox left open while the request moved on: its row must not vote in the next
    stage, even when the same lead decides that one too."""
    Policy.objects.create(department=org["a"], distinct_approvers=False)  # one lead, two stages
    make_policy(
        org["a"], LEADS, {"name": "Budget owner", "approver": "person", "person": org["lead_a"]}
    )
    key = submit_key(org)
    client.force_login(org["lead_a"])
    page = client.get("/approvals/").content.decode()
    value = f"keys.virtualkey:{key.pk}:{engine.current_stage(key).pk}"
    assert f'value="{value}"' in page
    client.post("/approvals/bulk/", {"items": [value], "decision": "approve"})
    assert engine.current_stage(key).name == "Budget owner"
    response = client.post(
        "/approvals/bulk/", {"items": [value], "decision": "approve"}, follow=True
    )
    assert "nothing was counted" in response.content.decode()
    assert [s.decisions.count() for s in engine.stages_for(key)] == [1, 0]
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_the_decision_page_decides_only_the_stage_it_showed(client, org):
    """The page a Teams card opens: sent twice (or from a tab left open), its form must not
    vote in the next stage that the same lead also decides."""
    Policy.objects.create(department=org["a"], distinct_approvers=False)  # one lead, two stages
    make_policy(
        org["a"], LEADS, {"name": "Budget owner", "approver": "person", "person": org["lead_a"]}
    )
    key = submit_key(org)
    client.force_login(org["lead_a"])
    page = client.get(f"/approvals/keys/{key.pk}/?decision=approve").content.decode()
    first = engine.current_stage(key).pk
    assert f'name="stage" value="{first}"' in page
    form = {"decision": "approve", "stage": str(first)}
    client.post(f"/approvals/keys/{key.pk}/", form)
    assert engine.current_stage(key).name == "Budget owner"
    response = client.post(f"/approvals/keys/{key.pk}/", form, follow=True)
    assert "nothing was counted" in response.content.decode()
    assert [s.decisions.count() for s in engine.stages_for(key)] == [1, 0]
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_bulk_decisions_check_each_request(client, org):
    make_policy(org["a"], LEADS)
    theirs = [submit_key(org) for _ in range(3)]
    own = submit_key(org, requester="lead_a")
    other_dept = submit_key(org, requester="dev_b", department="b")
    client.force_login(org["lead_a"])
    page = client.get("/approvals/").content.decode()
    for key in theirs:  # each row names the stage it shows
        assert f'value="keys.virtualkey:{key.pk}:{engine.current_stage(key).pk}"' in page
    assert f'value="keys.virtualkey:{own.pk}:' not in page
    items = [f"keys.virtualkey:{k.pk}" for k in [*theirs, own, other_dept]]
    response = client.post("/approvals/bulk/", {"items": items, "decision": "approve"}, follow=True)
    text = response.content.decode()
    assert "3 request(s) decided." in text and "Not decided" in text
    assert all(VirtualKey.objects.get(pk=k.pk).status == Status.APPROVED for k in theirs)
    assert VirtualKey.objects.get(pk=own.pk).status == Status.SUBMITTED
    assert VirtualKey.objects.get(pk=other_dept.pk).status == Status.SUBMITTED
    votes = AuditEvent.objects.filter(action="requeststage.voted", after__via="bulk")
    assert votes.count() == 3


def test_bulk_rejection_needs_a_comment_and_bad_input_is_a_message(client, org):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    client.force_login(org["lead_a"])
    item = f"keys.virtualkey:{key.pk}"
    response = client.post("/approvals/bulk/", {"items": [item], "decision": "reject"}, follow=True)
    assert response.status_code == 200 and "Say why" in response.content.decode()
    for junk in (["nope"], ["keys.virtualkey:x"], ["no.model:1"], []):
        response = client.post("/approvals/bulk/", {"items": junk, "decision": "approve"})
        assert response.status_code == 302
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_delegation_page_creates_and_refuses_with_a_message(client, org):
    deputy = make_user("deputy")
    client.force_login(org["lead_a"])
    today = timezone.localdate()
    data = {
        "delegate": deputy.pk,
        "starts_on": today.isoformat(),
        "ends_on": (today + datetime.timedelta(days=5)).isoformat(),
        "reason": "holiday",
    }
    response = client.post("/approvals/delegations/", data, follow=True)
    assert "decides for you" in response.content.decode()
    assert Delegation.objects.filter(delegator=org["lead_a"], delegate=deputy).exists()
    assert AuditEvent.objects.filter(action="delegation.created").exists()
    response = client.post("/approvals/delegations/", {**data, "delegate": org["lead_a"].pk})
    assert response.status_code == 200 and "yourself" in response.content.decode()
    delegation = Delegation.objects.get()
    client.force_login(org["dev_b"])
    assert client.post(f"/approvals/delegations/{delegation.pk}/end/").status_code == 403


def test_sla_page_is_infras_and_shows_median_and_p90(client, org):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    client.force_login(org["lead_a"])
    assert client.get("/approvals/sla/").status_code == 403
    client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
    stage = engine.stages_for(key).get()
    assert stage.decided_at is not None
    client.force_login(org["infra"])
    html = client.get("/approvals/sla/").content.decode()
    assert 'id="time-in-stage"' in html and "Alpha" in html


@pytest.mark.parametrize("path", ["/approvals/", "/approvals/delegations/", "/reviews/"])
def test_pages_render_in_japanese(client, org, path):
    client.force_login(org["lead_a"])
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 200
    assert 'lang="ja"' in response.content.decode()
