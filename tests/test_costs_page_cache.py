"""The lead's and infra's figures are cached, and dropped by every change they show."""

import pytest
from django.core.cache import cache

from costs.ingest import upsert_daily
from costs.models import DailySpend, MonthlySpend
from costs.soft_budgets import set_soft_budget

from . import test_costs_support as support
from .test_costs_support import row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
M = "?month=2026-11"


@pytest.fixture
def cached(costs_org, settings):
    settings.COSTS_PAGE_CACHE_SECONDS = 300
    cache.clear()
    upsert_daily([row(key="hash-a1", spend="12.50", requests=10)])
    yield costs_org
    cache.clear()


def actual(client, url=f"/costs/departments/alpha/{M}") -> str:
    html = client.get(url).content.decode()
    return html.split('id="kpi-actual">', 1)[1].split("<", 1)[0]


def test_figures_are_served_from_the_cache_until_an_ingestion(cached, client):
    client.force_login(cached["lead_a"])
    assert actual(client) == "USD 12.50"
    # A write that tells nobody (no ingestion, no signal): the cached figures stay.
    MonthlySpend.objects.filter(team_id="team-alpha").update(spend=99)
    assert actual(client) == "USD 12.50"
    # An ingestion drops them: the page shows what the rollups hold now (the rollup moved by
    # the difference, 99 + 20 - 12.50).
    upsert_daily([row(key="hash-a1", spend="20.00", requests=11)])
    assert DailySpend.objects.get(key_hash="hash-a1").spend == 20
    assert actual(client) == "USD 106.50"


def test_org_figures_cached_and_dropped_by_a_department_change(cached, client):
    client.force_login(cached["infra"])
    url = f"/costs/org/{M}"
    assert actual(client, url) == "USD 12.50"
    MonthlySpend.objects.update(spend=99)
    assert actual(client, url) == "USD 12.50"
    cached["b"].cost_centre = "CC-NEW"
    cached["b"].save()  # names, cost centres and budgets are on the org page
    assert actual(client, url) == "USD 99.00"


def test_department_changes_drop_that_department_only(cached, client):
    client.force_login(cached["lead_a"])
    assert "key-hash-a1" in client.get(f"/costs/departments/alpha/{M}").content.decode()
    key = cached["key_a"]
    key.name = "renamed-key"
    key.save()
    assert "renamed-key" in client.get(f"/costs/departments/alpha/{M}").content.decode()
    MonthlySpend.objects.update(spend=77)
    set_soft_budget(cached["a"], "department", 100, actor=cached["lead_a"])
    assert actual(client) == "USD 77.00"


def test_each_table_page_and_language_is_cached_apart(cached, client):
    client.force_login(cached["lead_a"])
    english = client.get(f"/costs/departments/alpha/{M}").content.decode()
    japanese = client.get(
        f"/costs/departments/alpha/{M}", headers={"accept-language": "ja"}
    ).content.decode()
    assert "By member" in english and "By member" not in japanese
    other_page = client.get(f"/costs/departments/alpha/{M}&members_page=2").content.decode()
    assert 'id="kpi-actual">USD 12.50' in other_page


def test_my_spend_is_cached_per_person_and_follows_ingestion_and_my_keys(cached, client):
    from costs.models import MonthlyKeySpend

    url = f"/costs/me/{M}"
    client.force_login(cached["dev_a"])
    assert actual(client, url) == "USD 12.50"
    assert "key-hash-a1" in client.get(url).content.decode()
    MonthlyKeySpend.objects.update(spend=99)  # tells nobody: the cached table stays
    assert ">99.00<" not in client.get(url).content.decode()
    key = cached["key_a"]
    key.name = "my-renamed-key"
    key.save()  # my key changed: my page is rendered again
    html = client.get(url).content.decode()
    assert "my-renamed-key" in html and ">99.00<" in html
    # Another person's page is their own (cached apart, nobody sees mine).
    client.force_login(cached["dev_b"])
    assert "my-renamed-key" not in client.get(url).content.decode()
    # An ingestion drops it too.
    client.force_login(cached["dev_a"])
    upsert_daily([row(key="hash-a1", spend="20.00", requests=11)])
    assert actual(client, url) == "USD 20.00"


def test_the_department_pages_other_sections_are_cached_and_follow_their_rows(cached, client):
    from decimal import Decimal

    from approvals.lifecycle import Status
    from costs.models import BudgetAlert
    from projects.models import ProjectMetricsDay, TuningProject

    from .test_costs_support import DAY

    client.force_login(cached["lead_a"])
    url = f"/costs/departments/alpha/{M}"
    html = client.get(url).content.decode()
    assert 'id="langfuse-costs"' not in html and "No alerts." in html
    evals = TuningProject.objects.create(
        requester=cached["dev_a"], department=cached["a"], name="evals-project", purpose="p",
        justification="j", lifetime_days=7, status=Status.ACTIVE,
    )  # fmt: skip
    ProjectMetricsDay.objects.create(project=evals, day=DAY, cost=Decimal("3.25"))
    html = client.get(url).content.decode()  # the metrics pull moved the department's version
    assert 'id="langfuse-costs"' in html and "evals-project" in html and "3.25" in html
    BudgetAlert.objects.create(
        department=cached["a"], scope="department", subject="alpha-subject-x",
        period=DAY.replace(day=1), threshold=80, spend=Decimal("81"), budget=Decimal("100"),
    )  # fmt: skip
    alerts = client.get(url).content.decode().split('class="alerts"')[1].split("</table>")[0]
    assert "No alerts." not in alerts and "81.00" in alerts and "100.00" in alerts


def test_an_ingestion_drops_the_departments_it_is_about_and_keeps_the_others(cached, client):
    from django.test import Client

    client.force_login(cached["lead_a"])
    lead_b = Client()
    lead_b.force_login(cached["lead_b"])
    infra = Client()
    infra.force_login(cached["infra"])
    upsert_daily([row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="3.00")])
    beta = f"/costs/departments/beta/{M}"
    assert actual(client) == "USD 12.50" and actual(lead_b, beta) == "USD 3.00"
    assert actual(infra, f"/costs/org/{M}") == "USD 15.50"
    MonthlySpend.objects.filter(team_id="team-beta").update(spend=77)  # tells nobody
    # A batch of alpha's spend: alpha's and the org's figures follow it at once ...
    upsert_daily([row(key="hash-a1", spend="20.00", requests=11)])
    assert actual(client) == "USD 20.00"
    assert actual(infra, f"/costs/org/{M}") == "USD 97.00"
    # ... and beta's page, which the batch is not about, stays cached.
    assert actual(lead_b, beta) == "USD 3.00"
