"""The navigation's versions are per department and per person: a change in one department
re-renders the pages it concerns, at once, and leaves the other departments' pages cached."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals import delegation, workflow
from approvals.lifecycle import Status
from approvals.models import PendingDecision
from costs.ingest import SpendRow, upsert_daily
from keys.models import VirtualKey
from portal import context_processors
from portal.days import local_today, utc_today
from tenants.models import User

from .approvals_helpers import LEADS, make_policy, submit_key

pytestmark = pytest.mark.django_db


def version(user) -> str:
    return context_processors.version_for(User.objects.get(pk=user.pk))  # a new request's user


def spend_version(user) -> str:
    return context_processors.spend_version_for(User.objects.get(pk=user.pk))


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def key_queries(client, path) -> tuple[str, list[str]]:
    """The page, and the queries it made on the keys' table and on what waits for whom (a
    page read afresh asks one or the other, even when nothing waits)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    tables = (VirtualKey._meta.db_table, PendingDecision._meta.db_table)
    return response.content.decode(), [
        q["sql"] for q in captured if any(t in q["sql"] for t in tables)
    ]


def test_a_request_in_department_a_moves_a_and_infra_not_b(org):
    from tenants.models import Membership

    Membership.objects.create(user=org["nobody"], department=org["a"], role="member")
    names = ("lead_a", "dev_a", "lead_b", "dev_b", "infra", "nobody")
    before = {name: version(org[name]) for name in names}
    submit_key(org)
    after = {name: version(org[name]) for name in names}
    assert after["lead_b"] == before["lead_b"] and after["dev_b"] == before["dev_b"]
    assert after["lead_a"] != before["lead_a"] and after["dev_a"] != before["dev_a"]
    assert after["infra"] != before["infra"]
    assert after["nobody"] == before["nobody"]  # A's other members: their pages don't show it


def test_department_b_pages_stay_cached_and_a_pages_show_the_change_at_once(org):
    lead_a, lead_b, dev_b = (
        signed_in(org["lead_a"]),
        signed_in(org["lead_b"]),
        signed_in(org["dev_b"]),
    )
    submit_key(org, requester="dev_b", department="b", name="bee")
    for client in (lead_a, lead_b, dev_b):
        client.get("/approvals/")
        client.get("/keys/")
    assert ">bee (portal-" in lead_b.get("/approvals/").content.decode()

    submit_key(org, name="new-in-a")  # department A

    html, queries = key_queries(lead_a, "/approvals/")
    assert ">new-in-a (portal-" in html and queries  # A's lead: re-rendered, the request shown
    for client, path in ((lead_b, "/approvals/"), (dev_b, "/keys/")):
        html, queries = key_queries(client, path)
        assert queries == [], path  # B's pages: from the cache
        assert "new-in-a" not in html
    assert ">bee (portal-" in key_queries(lead_b, "/approvals/")[0]


def test_a_decision_leaves_the_other_department_cached_and_updates_its_own(org):
    key = submit_key(org, name="decide-me")
    lead_a, lead_b = signed_in(org["lead_a"]), signed_in(org["lead_b"])
    assert ">decide-me (portal-" in lead_a.get("/approvals/").content.decode()
    lead_b.get("/approvals/")
    response = lead_a.post(f"/approvals/keys/{key.pk}/", {"decision": "reject", "comment": "no"})
    assert response.status_code == 302
    html, queries = key_queries(lead_a, "/approvals/")
    assert ">decide-me (portal-" not in html and queries
    assert key_queries(lead_b, "/approvals/")[1] == []


def test_a_named_approver_outside_the_department_sees_the_request_at_once(org):
    make_policy(org["a"], {"name": "Finance", "approver": "person", "person": org["lead_b"]})
    lead_b = signed_in(org["lead_b"])
    lead_b.get("/approvals/")  # cached, empty
    before_dev_b = version(org["dev_b"])
    submit_key(org, name="for-finance")
    assert ">for-finance (portal-" in lead_b.get("/approvals/").content.decode()
    assert version(org["dev_b"]) == before_dev_b  # B's other people are not concerned


def test_a_delegate_sees_what_waits_for_the_delegator_after_a_new_request(org):
    make_policy(org["a"], LEADS)
    today = local_today()
    delegation.create(
        delegator=org["lead_a"], delegate=org["dev_b"], starts_on=today, ends_on=today,
        actor=org["lead_a"],
    )  # fmt: skip
    dev_b = signed_in(org["dev_b"])
    dev_b.get("/approvals/")
    submit_key(org, name="delegated")
    assert ">delegated (portal-" in dev_b.get("/approvals/").content.decode()


def active_key_in_a(org) -> None:
    """dev_a's active key in department A, whose LiteLLM team is team-a."""
    org["a"].litellm_team_id = "team-a"
    org["a"].save()
    key = submit_key(org, name="spender")
    workflow.approve(key, actor=org["lead_a"])
    VirtualKey.objects.filter(pk=key.pk).update(litellm_key_id="tok-a", status=Status.ACTIVE)


def spend_in_a() -> None:
    upsert_daily(
        [SpendRow(utc_today(), "team-a", "oid-dev_a", "tok-a", "gpt-4o-mini", "openai",
                  Decimal("1.5"), 10, 10, 1, 1, 0)]
    )  # fmt: skip


def test_spend_moves_its_department_and_the_key_owner_only(org):
    active_key_in_a(org)
    names = ("lead_a", "dev_a", "lead_b", "infra")
    before = {name: (version(org[name]), spend_version(org[name])) for name in names}
    spend_in_a()
    after = {name: (version(org[name]), spend_version(org[name])) for name in names}
    assert after["lead_b"] == before["lead_b"]
    # The home panels' money moves for those it concerns; no list or queue is dropped.
    assert all(after[n][1] != before[n][1] for n in ("lead_a", "dev_a", "infra"))
    assert all(after[n][0] == before[n][0] for n in names)


def test_the_home_page_shows_new_spend_at_once(org):
    active_key_in_a(org)
    dev_a = signed_in(org["dev_a"])
    assert "1.50" not in dev_a.get("/").content.decode()
    spend_in_a()
    assert "1.50" in dev_a.get("/").content.decode()


def test_a_membership_moves_everyone(org):
    from tenants.models import Membership

    before = version(org["lead_b"])
    Membership.objects.create(user=org["nobody"], department=org["a"], role="member")
    assert version(org["lead_b"]) != before


def test_an_approver_added_to_a_waiting_stage_sees_the_request_at_once(org):
    from approvals.models import RequestStage

    make_policy(org["a"], LEADS)
    submit_key(org, name="more-hands")
    dev_b = signed_in(org["dev_b"])
    assert "more-hands" not in dev_b.get("/approvals/").content.decode()  # cached, empty
    before_lead_b = version(org["lead_b"])
    RequestStage.objects.get(state="active").approvers.add(org["dev_b"])  # the group grew
    assert ">more-hands (portal-" in dev_b.get("/approvals/").content.decode()
    assert version(org["lead_b"]) == before_lead_b
