"""The home page per role: what each person should see first, from the rollups, in a bounded
number of queries."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from costs.ingest import upsert_daily
from costs.models import SpendAnomaly
from portal.days import utc_today

from . import test_costs_support as support
from .factories import ask_budget
from .test_costs_support import make_key, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org


@pytest.fixture
def home_org(costs_org):
    org = costs_org
    today = utc_today()
    org["key_a"].expires_at = timezone.now() + datetime.timedelta(days=5)
    org["key_a"].save()
    make_key(org["dev_a"], org["a"], "", name="waiting-key", status=Status.SUBMITTED)
    make_key(org["dev_a"], org["a"], "hash-f", name="broken-key", status=Status.FAILED)
    upsert_daily([row(day=today, key="hash-a1", spend="45")])  # 90 % of the key's 50
    return org


def test_developer_home(home_org, client, django_assert_max_num_queries):
    client.force_login(home_org["dev_a"])
    with django_assert_max_num_queries(20):
        html = client.get("/").content.decode()
    mine = html.split('id="home-my-keys"')[1].split("</section>")[0]
    assert "key-hash-a1" in mine and "45.00" in mine and "90 %" in mine
    assert ">4<" in mine or ">5<" in mine  # days left
    requests = html.split('id="home-requests"')[1].split("</section>")[0]
    assert "waiting-key" in requests and "broken-key" in requests
    assert "Request extension" in requests  # expiring within 14 days
    assert 'id="request-key"' in html
    assert 'id="home-queue"' not in html and 'id="home-operations"' not in html


def test_lead_home(home_org, client, django_assert_max_num_queries):
    client.force_login(home_org["lead_a"])
    with django_assert_max_num_queries(25):
        html = client.get("/").content.decode()
    queue = html.split('id="home-queue"')[1].split("</section>")[0]
    assert "waiting-key" in queue and "waiting" in queue
    depts = html.split('id="home-departments"')[1].split("</section>")[0]
    assert "Alpha" in depts and "45.00" in depts
    assert depts.split("<td")[-1].startswith(' class="num">1<')  # one key near its budget


def test_infra_home(home_org, client, django_assert_max_num_queries):
    client.force_login(home_org["infra"])
    with django_assert_max_num_queries(25):
        html = client.get("/").content.decode()
    ops = html.split('id="home-operations"')[1].split("</section>")[0]
    assert "Failed provisioning: keys 1, tuning projects 0" in ops
    org = html.split('id="home-organisation"')[1].split("</section>")[0]
    assert "45.00" in org and "No ingestion run recorded yet." in org


def test_key_page_shows_usage_against_budget_and_a_timeline(home_org, client):
    key = home_org["key_a"]
    key.activated_at = timezone.now()
    key.save()
    client.force_login(home_org["dev_a"])
    html = client.get(f"/keys/{key.pk}/").content.decode()
    usage = html.split('id="usage"')[1].split('id="timeline"')[0]
    assert "45.00" in usage and "90 %" in usage and "gpt-4o-mini" in usage
    assert "Last used" in usage
    timeline = html.split('id="timeline"')[1].split("</ol>")[0]
    assert timeline.index("Requested") < timeline.index("Provisioned") < timeline.index("Expires")
    assert 'id="key-usage-data"' in html


def test_lists_search_filter_and_sort(home_org, client):
    client.force_login(home_org["dev_a"])
    html = client.get("/keys/", {"q": "broken"}).content.decode()
    rows = html.split('id="my-keys"')[1]
    assert "broken-key" in rows and "waiting-key" not in rows
    html = client.get("/keys/", {"status": "submitted"}).content.decode()
    controls, rows = html.split('class="filters list-controls"')[1].split('id="my-keys"')
    assert "waiting-key" in rows and "broken-key" not in rows
    # The controls say what is applied: the chosen status, the default sort.
    assert '<option value="submitted" selected>' in controls
    assert controls.count(" selected>") == 2 and '<option value="new" selected>' in controls
    html = client.get("/keys/", {"sort": "name"}).content.decode()
    assert '<option value="name" selected>' in html
    rows = html.split('id="my-keys"')[1]
    assert rows.index("broken-key") < rows.index("key-hash-a1") < rows.index("waiting-key")
    odd = client.get("/keys/", {"status": "nonsense", "sort": "x", "department": "y"})
    assert odd.status_code == 200 and "waiting-key" in odd.content.decode()
    client.force_login(home_org["lead_a"])
    queue = client.get("/approvals/", {"q": "waiting"}).content.decode()
    assert "waiting-key" in queue.split('id="approval-queue"')[1]
    queue = client.get("/approvals/", {"q": "zzz"}).content.decode()
    assert "waiting-key" not in queue.split('id="approval-queue"')[1]


def test_approver_panel_counts_every_kind_the_approvals_pages_list(home_org, client):
    # A key request (from the fixture) and a budget request wait for infra: the home panel
    # counts both, as the navigation badge does, and lists the budget request.
    ask_budget(home_org, "2500", "x")
    client.force_login(home_org["infra"])
    html = client.get("/").content.decode()
    queue = html.split('id="home-queue"')[1].split("</section>")[0]
    badge = html.split('id="pending-count">')[1].split("<")[0]
    assert badge == "2"
    assert f'<span class="badge">{badge}</span>' in queue
    assert "→ 2500" in queue and "(budget request)" in queue and "waiting-key" in queue
    inbox = client.get("/approvals/").content.decode()
    assert inbox.count('name="items"') == 2


def test_lead_home_shows_the_departments_recent_anomalies(home_org, client):
    today = utc_today()
    fields = {"baseline": Decimal("4"), "limit": Decimal("10"), "top_model": "gpt-4o-mini"}
    recent = SpendAnomaly.objects.create(
        scope="department", subject=f"department:{home_org['a'].pk}", department=home_org["a"],
        day=today - datetime.timedelta(days=2), spend=Decimal("40"), top_key_hash="hash-a1",
        top_key_name="key-hash-a1", top_key_spend=Decimal("30"), **fields,
    )  # fmt: skip
    SpendAnomaly.objects.create(
        scope="department", subject=f"department:{home_org['a'].pk}", department=home_org["a"],
        day=today - datetime.timedelta(days=40), spend=Decimal("77"), **fields,
    )  # fmt: skip
    SpendAnomaly.objects.create(
        scope="department", subject=f"department:{home_org['b'].pk}", department=home_org["b"],
        day=today - datetime.timedelta(days=1), spend=Decimal("55"), **fields,
    )  # fmt: skip
    client.force_login(home_org["lead_a"])
    html = client.get("/").content.decode()
    panel = html.split('id="home-anomalies"')[1].split("</section>")[0]
    assert "40.00" in panel and "10.0× the usual 4.00" in panel
    assert "gpt-4o-mini" in panel and "key-hash-a1" in panel
    assert "77.00" not in panel and "55.00" not in panel  # too old; another department
    assert f'href="/costs/anomalies/#anomaly-{recent.pk}"' in panel
    listing = client.get("/costs/anomalies/").content.decode()
    assert f'id="anomaly-{recent.pk}"' in listing
    client.force_login(home_org["dev_a"])
    assert 'id="home-anomalies"' not in client.get("/").content.decode()
