"""The rolling-window pages (last 7/30/90 days): totals from the day rollup, permissions."""

import datetime

import pytest

from costs.ingest import upsert_daily

from . import test_costs_support as support
from .test_costs_support import DAY, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org


@pytest.fixture
def spend(costs_org):
    upsert_daily(
        [
            row(key="hash-a1", spend="12.50"),
            row(day=DAY - datetime.timedelta(days=29), key="hash-a1", spend="2.50"),
            row(day=DAY - datetime.timedelta(days=30), key="hash-a1", spend="100"),  # outside
            row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="40"),
        ]
    )
    return costs_org


def test_lead_sees_last_30_days_of_own_department(spend, client):
    client.force_login(spend["lead_a"])
    html = client.get(f"/costs/departments/alpha/recent/?days=30&end={DAY}").content.decode()
    assert 'id="kpi-window">USD 15.00' in html
    html = client.get(f"/costs/departments/alpha/recent/?days=7&end={DAY}").content.decode()
    assert 'id="kpi-window">USD 12.50' in html
    # Anything else falls back to 30 days ending today, never a 500.
    assert client.get("/costs/departments/alpha/recent/?days=x&end=nope").status_code == 200
    assert client.get("/costs/departments/beta/recent/").status_code == 404
    assert client.get("/costs/org/recent/").status_code == 403


def test_infra_sees_every_department(spend, client):
    client.force_login(spend["infra"])
    html = client.get(f"/costs/org/recent/?days=30&end={DAY}").content.decode()
    assert 'id="kpi-window">USD 55.00' in html
    assert spend["a"].name in html and spend["b"].name in html
