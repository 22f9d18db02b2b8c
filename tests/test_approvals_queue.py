"""The one approval queue: every kind the user decides, filters and sort, the current stage
and whose place the user stands in, bulk decisions, a bounded number of queries, and the
old second list's address sending people here."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import delegation, engine
from approvals.lifecycle import Status
from keys.models import VirtualKey
from projects.models import TuningProject

from .approvals_helpers import LEADS, make_policy, submit_key
from .factories import make_budget_request

pytestmark = pytest.mark.django_db


def waiting(org, n: int) -> None:
    """``n`` requests waiting in department a (keys, and a tuning project every fifth)."""
    for i in range(n):
        common = {
            "requester": org["dev_a"], "department": org["a"], "lifetime_days": 7,
            "justification": "x", "status": Status.SUBMITTED,
        }  # fmt: skip
        if i % 5 == 4:
            TuningProject.objects.create(name=f"p{i}", purpose="x", retention_days=30, **common)
        else:
            VirtualKey.objects.create(
                name=f"k{i}", llm_models=["gpt-4o-mini"], max_budget=5, rpm_limit=1,
                tpm_limit=1, **common,
            )  # fmt: skip


def stand_in(org) -> None:
    """lead_a is away: lead_b decides for them."""
    today = timezone.localdate()
    delegation.create(
        delegator=org["lead_a"], delegate=org["lead_b"], starts_on=today,
        ends_on=today + datetime.timedelta(days=3), actor=org["lead_a"],
    )  # fmt: skip


def rows(html: str) -> list[str]:
    """The requests the queue lists, as ``label:pk`` (a staged row names its stage too)."""
    return [
        ":".join(value.split(":")[:2])
        for value in re.findall(r'name="items" value="([a-z.]+:\d+(?::\d+)?)"', html)
    ]


def test_every_kind_with_its_stage_and_whose_place_the_user_takes(client, org):
    make_policy(org["b"], LEADS)
    staged = submit_key(org, requester="dev_b", department="b", name="staged-one")
    waiting(org, 5)
    stand_in(org)
    client.force_login(org["lead_b"])
    html = client.get("/approvals/").content.decode()
    table = html.split('id="approval-queue"')[1]
    # The row decides the stage it shows, never a later one.
    stage = engine.current_stage(staged)
    assert f'value="keys.virtualkey:{staged.pk}:{stage.pk}"' in table
    assert len([r for r in rows(html) if r.startswith("projects.tuningproject:")]) == 1
    assert len([r for r in rows(html) if r.startswith("keys.virtualkey:")]) == 5
    # Department b's key waits in its stage "Lead", lead_b's own place; department a's for
    # lead_a, whose place lead_b takes.
    staged_row = table.split(f"keys.virtualkey:{staged.pk}:")[1].split("</tr>")[0]
    assert "<td>Lead</td>" in staged_row.replace("\n", "") or ">Lead<" in staged_row
    assert "for " not in staged_row
    other = table.split("projects.tuningproject:")[1].split("</tr>")[0]
    assert f"for {org['lead_a']}" in other


def test_infra_sees_budget_requests_beside_keys_and_filters_by_kind(client, org):
    waiting(org, 2)
    budget = make_budget_request(
        org, monthly_budget=Decimal("900"), previous_budget=Decimal("500"), lifetime_days=0
    )
    client.force_login(org["infra"])
    html = client.get("/approvals/").content.decode()
    assert f"costs.budgetrequest:{budget.pk}" in rows(html)
    assert "USD 500.00 → 900.00 a month" in html
    only_budgets = rows(client.get("/approvals/?kind=budget").content.decode())
    assert only_budgets == [f"costs.budgetrequest:{budget.pk}"]
    only_keys = rows(client.get("/approvals/?kind=key").content.decode())
    assert only_keys and all(r.startswith("keys.virtualkey:") for r in only_keys)
    none_of_b = rows(client.get(f"/approvals/?department={org['b'].pk}").content.decode())
    assert none_of_b == []


def test_sorted_oldest_first_by_default_and_newest_on_request(client, org):
    waiting(org, 4)
    client.force_login(org["lead_a"])
    oldest = rows(client.get("/approvals/").content.decode())
    newest = rows(client.get("/approvals/?sort=new").content.decode())
    assert oldest == list(reversed(newest)) and len(oldest) == 4


def test_the_same_number_of_queries_at_5_and_at_200_waiting(
    client, org, django_assert_num_queries, django_assert_max_num_queries
):
    make_policy(org["b"], LEADS)
    submit_key(org, requester="dev_b", department="b")
    stand_in(org)
    client.force_login(org["lead_b"])
    waiting(org, 5)
    cache.clear()  # the rows are read, not taken from the page cache
    client.get("/")  # the session and the navigation, as on any page
    cache.clear()
    with CaptureQueriesContext(connection) as at_5:
        html = client.get("/approvals/").content.decode()
    assert len(rows(html)) == 6
    at_5 = len(at_5)  # the next request clears the connection's log
    waiting(org, 195)
    cache.clear()
    client.get("/")
    cache.clear()
    with django_assert_num_queries(at_5):
        html = client.get("/approvals/").content.decode()
    assert len(rows(html)) == 25  # one page
    with django_assert_max_num_queries(12):
        client.get("/approvals/?page=3&sort=new")
    with django_assert_max_num_queries(13):  # filtered: counted on its own
        html = client.get(f"/approvals/?kind=key&department={org['a'].pk}&q=k1&page=2")
    html = html.content.decode()
    # Keys named k1, k10–k19 and k100–k194 (not every fifth: projects), k1 twice: 86.
    assert len(rows(html)) == 25 and "Page 2 of 4" in html


def test_the_cached_list_is_the_navigation_badge_s_and_moves_with_a_decision(client, org):
    waiting(org, 3)
    client.force_login(org["lead_a"])
    html = client.get("/approvals/").content.decode()
    assert '<span class="badge" id="pending-count">3</span>' in html and len(rows(html)) == 3
    key = VirtualKey.objects.filter(status=Status.SUBMITTED).first()
    client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
    html = client.get("/approvals/").content.decode()
    assert '<span class="badge" id="pending-count">2</span>' in html
    assert f"keys.virtualkey:{key.pk}" not in rows(html)


def test_the_old_second_list_redirects_here_with_its_query(client, org):
    client.force_login(org["lead_a"])
    response = client.get("/approvals/inbox/?kind=key&page=2")
    assert response.status_code == 301
    assert response["Location"] == "/approvals/?kind=key&page=2"
    assert client.get("/approvals/inbox/")["Location"] == "/approvals/"


def test_bulk_decisions_come_back_to_the_queue(client, org):
    waiting(org, 2)
    client.force_login(org["lead_a"])
    html = client.get("/approvals/").content.decode()
    items = re.findall(r'name="items" value="([^"]+)"', html)
    response = client.post("/approvals/bulk/", {"items": items, "decision": "approve"})
    assert response["Location"] == "/approvals/"
    assert not rows(client.get("/approvals/").content.decode())
