"""The access review page a lead works through: each item's kind in the reader's language,
its expiry, last use and spend; "keep all remaining"; reviews in the navigation and on the
lead's home; a bounded number of queries however many items the page shows."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import reviews
from approvals.lifecycle import Status
from approvals.review_models import ReviewItem
from costs.models import DailySpend
from keys.models import VirtualKey
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def active_key(org, name, requester="dev_a", **extra) -> VirtualKey:
    return VirtualKey.objects.create(
        requester=org[requester], department=org["a"], name=name, llm_models=["gpt-4o-mini"],
        max_budget=Decimal("5"), rpm_limit=50, tpm_limit=100000, lifetime_days=30,
        justification="x", status=Status.ACTIVE,
        **extra,
    )  # fmt: skip


def campaign_over(org, *keys):
    return reviews.start(
        name="Q4",
        departments=[org["a"]],
        deadline=timezone.now() + datetime.timedelta(days=7),
        actor=org["infra"],
    )


def test_items_show_kind_expiry_last_use_and_spend(client, org):
    expires = datetime.datetime(2027, 1, 15, 3, 0, tzinfo=datetime.UTC)
    key = active_key(org, "support-bot", expires_at=expires)
    today = timezone.now().astimezone(datetime.UTC).date()
    for days_ago, spend, requests in ((2, "1.25", 4), (10, "2.50", 1), (40, "9.00", 3)):
        DailySpend.objects.create(
            day=today - datetime.timedelta(days=days_ago), key=key, user=org["dev_a"],
            model="gpt-4o-mini", spend=Decimal(spend), requests=requests,
        )  # fmt: skip
    campaign = campaign_over(org, key)
    client.force_login(org["lead_a"])
    page = client.get(campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r'<strong>support-bot[^<]*</strong> <span class="muted">\(virtual key\)', page)
    assert "virtual key: support-bot" not in page
    last = (today - datetime.timedelta(days=2)).strftime("%-d %b %Y")
    assert f"<dd>{last}</dd>" in page  # the latest UTC day with requests
    assert "3.75" in page  # 1.25 + 2.50 in the last 30 days; the 9.00 is older
    assert "15 Jan 2027" in page
    ja = client.get(campaign.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "(仮想キー)" in ja


def test_keep_all_remaining_decides_each_item_and_skips_ones_own(client, org):
    keys = [active_key(org, f"k{i}") for i in range(3)]
    own = active_key(org, "lead-own", requester="lead_a")
    campaign = campaign_over(org, *keys, own)
    client.force_login(org["lead_a"])
    response = client.post(f"/reviews/{campaign.pk}/keep/", {"reason": "All in use."})
    assert response.status_code == 302
    decisions = dict(campaign.items.values_list("object_id", "decision"))
    assert decisions == {**{k.pk: "keep" for k in keys}, own.pk: "pending"}
    assert AuditEvent.objects.filter(action="reviewitem.decided").count() == 3
    # Without a reason nothing is kept.
    client.force_login(org["infra"])
    client.post(f"/reviews/{campaign.pk}/keep/", {"reason": " \x00 "})
    assert campaign.items.get(object_id=own.pk).decision == ReviewItem.Decision.PENDING


def test_reviews_are_in_the_leads_navigation_and_on_their_home(client, org):
    campaign = campaign_over(org, active_key(org, "k"))
    client.force_login(org["lead_a"])
    home = client.get("/").content.decode()
    assert 'href="/reviews/"' in home
    assert f'href="/reviews/{campaign.pk}/"' in home and "1 item to review" in home
    client.force_login(org["dev_a"])
    assert 'href="/reviews/"' not in client.get("/").content.decode()


def test_the_department_picker_is_a_list_of_checkboxes_with_a_hint(client, org):
    client.force_login(org["infra"])
    page = client.get("/reviews/").content.decode()
    assert 'type="checkbox" name="departments"' in page
    assert "Tick each department" in page


def test_the_campaign_page_costs_the_same_queries_for_5_and_20_items(client, org):
    campaign = campaign_over(org, *[active_key(org, f"k{i}") for i in range(5)])
    client.force_login(org["lead_a"])
    url = campaign.get_absolute_url()
    client.get(url)
    with CaptureQueriesContext(connection) as five:
        client.get(url)
    more = [active_key(org, f"m{i}") for i in range(15)]
    bigger = campaign_over(org, *more)
    client.get(bigger.get_absolute_url())
    with CaptureQueriesContext(connection) as twenty:
        client.get(bigger.get_absolute_url())
    assert bigger.items.count() == 20
    assert len(twenty) == len(five)
