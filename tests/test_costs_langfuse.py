"""Tuning projects' Langfuse cost in the department's budget: what LiteLLM has not counted is
added (actual, forecast, alerts, chargeback); a routed key's spend is never counted twice.

Expected figures are worked out by hand in each test."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
import time_machine

from approvals.lifecycle import Status
from costs import alerts, langfuse_costs, page_cache
from costs.ingest import upsert_daily
from projects.models import ProjectMetricsDay, TuningProject

from . import test_costs_support as support
from .test_costs_support import DAY, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
NOV = DAY.replace(day=1)
UTC = datetime.UTC


def at(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=UTC)


@pytest.fixture
def clock():
    """Today is 2026-11-10 (day 10 of 30), 12:00 UTC."""
    with time_machine.travel(at(DAY), tick=False) as traveller:
        yield traveller


def project(org, name, department="a", requester="dev_a", **extra):
    return TuningProject.objects.create(
        requester=org[requester],
        department=org[department],
        name=name,
        purpose="p",
        justification="j",
        lifetime_days=30,
        status=Status.ACTIVE,
        **extra,
    )


def langfuse(p, day, cost):
    ProjectMetricsDay.objects.create(project=p, day=day, cost=Decimal(cost))


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


def days_ago(n):
    return DAY - datetime.timedelta(days=n)


@pytest.fixture
def routed_and_direct(costs_org, clock):
    """Alpha in November. LiteLLM: key a1 spends 5 (Nov 8), 6 (Nov 9), 10 (Nov 10) = 21.
    "routed" gets key a1's traces from Nov 9, 10:00 UTC, and direct SDK traces as well:
      Nov 8: Langfuse 3.00, before routing: nothing of LiteLLM's in it   → counted 3.00
      Nov 9: Langfuse 7.50, key a1's LiteLLM spend 6.00 is in it          → counted 1.50
      Nov 10: Langfuse 4.00 < key a1's 10.00 (traces late): never below 0 → counted 0
    "direct" (no routing): Nov 10, 2.25                                   → counted 2.25
    Alpha's Langfuse counted: 3.00 + 1.50 + 0 + 2.25 = 6.75; actual 21 + 6.75 = 27.75.
    Not Alpha's November: "direct" in October (9.00), Beta's project (100.00)."""
    upsert_daily(
        [
            row(day=days_ago(2), key="hash-a1", spend="5"),
            row(day=days_ago(1), key="hash-a1", spend="6"),
            row(day=DAY, key="hash-a1", spend="10"),
        ]
    )
    routed = project(
        costs_org, "routed", route_key=costs_org["key_a"], routed_at=at(days_ago(1), 10)
    )
    direct = project(costs_org, "direct")
    for day, cost in ((days_ago(2), "3.00"), (days_ago(1), "7.50"), (DAY, "4.00")):
        langfuse(routed, day, cost)
    langfuse(direct, DAY, "2.25")
    langfuse(direct, datetime.date(2026, 10, 20), "9.00")
    langfuse(project(costs_org, "beta-direct", "b", "dev_b"), DAY, "100.00")
    return {"routed": routed, "direct": direct}


def test_routed_key_spend_is_counted_once(costs_org, routed_and_direct, client):
    projects, counted = langfuse_costs.department_month(costs_org["a"], NOV)
    assert [(p.name, p.cost, p.routed_spend, p.counted, p.routed) for p in projects] == [
        # 3.00 + 7.50 + 4.00; key a1's 6.00 + 10.00 (Nov 9 and 10); 3.00 + 1.50 + 0
        ("routed", Decimal("14.50"), Decimal("16.00"), Decimal("4.50"), True),
        ("direct", Decimal("2.25"), Decimal("0"), Decimal("2.25"), False),
    ]
    assert counted == Decimal("6.75")

    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    assert 'id="kpi-actual">USD 27.75' in html  # 21 LiteLLM + 6.75 Langfuse, nothing twice
    assert "LiteLLM USD 21.00 + Langfuse (tuning projects) USD 6.75" in html
    assert "USD 972.25" in html  # left now: 1000 − 27.75
    assert 'id="langfuse-outside">USD 6.75' in html
    ja = client.get("/costs/departments/alpha/?month=2026-11", HTTP_ACCEPT_LANGUAGE="ja")
    ja = ja.content.decode()
    assert "LiteLLM USD 21.00 + Langfuse (チューニングプロジェクト) USD 6.75" in ja
    assert "転送元のキー" in ja and "今月計上した Langfuse" in ja and "UTC の日ごと" in ja
    assert "Routed from key" not in ja and "counted this month" not in ja


def test_routing_known_from_the_step_after_the_lease_ended(costs_org, routed_and_direct):
    # Teardown clears routed_at; the "routing" step keeps when routing was set.
    TuningProject.objects.filter(pk=routed_and_direct["routed"].pk).update(
        routed_at=None,
        steps={"routing": {"result": "routed", "at": at(days_ago(1), 10).isoformat()}},
    )
    assert langfuse_costs.department_month(costs_org["a"], NOV)[1] == Decimal("6.75")
    # Never routed (fulfilled by hand): the key's spend is not in the project's cost.
    TuningProject.objects.filter(pk=routed_and_direct["routed"].pk).update(
        steps={"routing": {"result": "not possible: fulfilled by hand", "at": "2026-11-01"}}
    )
    assert langfuse_costs.department_month(costs_org["a"], NOV)[1] == Decimal("16.75")


def test_forecast_includes_langfuse(costs_org, clock, client):
    """Nov 10 (10 of 30 days): LiteLLM 20 + Langfuse 10 = 30 → 3.00 a day. October: Langfuse
    31.00 only → 1.00 a day (31 days). Blended (30 + 1 × 7) / (10 + 7) = 37/17 a day; forecast
    30 + 20 × 37/17 = 73.529… → 73.53, range 30 + 20 × 1 = 50.00 to 30 + 20 × 3 = 90.00.
    LiteLLM alone would be a 10-day run rate: 20 + 20 × 2 = 60.00."""
    upsert_daily([row(key="hash-a1", spend="20")])
    direct = project(costs_org, "direct")
    langfuse(direct, DAY, "10")
    langfuse(direct, datetime.date(2026, 10, 15), "31")
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/").content.decode()
    assert 'id="kpi-forecast">USD 73.53' in html
    assert "Range USD 50.00 – 90.00" in html


def test_an_alert_fires_when_the_langfuse_part_crosses(
    costs_org, clock, django_capture_on_commit_callbacks
):
    """Budget 1000. Key a1 spends 700 and is routed to a project whose Langfuse cost is the
    same 700: counted once, 70 %, no threshold (twice would be 1400: 80 % and 100 %). A direct
    project then costs 150: 850, 85 %: the 80 % alert fires, from the Langfuse part alone."""
    upsert_daily([row(key="hash-a1", spend="700")])
    routed = project(costs_org, "routed", route_key=costs_org["key_a"], routed_at=at(NOV))
    langfuse(routed, DAY, "700")

    def department_alerts():
        with django_capture_on_commit_callbacks(execute=True):
            fired = alerts.evaluate(DAY)
        return [(a.kind, a.threshold, a.spend) for a in fired if a.scope == "department"]

    assert [a for a in department_alerts() if a[0] == "actual"] == []
    langfuse(project(costs_org, "direct"), DAY, "150")
    assert department_alerts() == [("actual", 80, Decimal("850"))]


def test_chargeback_and_org_page_show_the_langfuse_line(costs_org, routed_and_direct, client):
    upsert_daily([row(day=datetime.date(2026, 10, 5), key="hash-a1", spend="20")])
    client.force_login(costs_org["infra"])
    rows = read_csv(client.get("/costs/chargeback.csv?from=2026-10&to=2026-11"))
    got = [(r["department"], r["month"], r["source"], r["spend"]) for r in rows]
    assert got == [
        ("Alpha", "2026-10", "LiteLLM", "20.000000"),
        ("Alpha", "2026-10", "Langfuse (tuning projects)", "9.000000"),
        ("Alpha", "2026-11", "LiteLLM", "21.000000"),
        ("Alpha", "2026-11", "Langfuse (tuning projects)", "6.750000"),
        ("Beta", "2026-11", "Langfuse (tuning projects)", "100.000000"),  # no LiteLLM spend
    ]
    assert rows[3]["cost_centre"] == "CC-alpha" and rows[3]["tokens"] == "0"

    departments = read_csv(client.get("/costs/org/departments.csv?month=2026-11"))
    alpha = next(d for d in departments if d["name"] == "Alpha")
    assert (alpha["spend"], alpha["langfuse"], alpha["total"]) == (
        "21.000000",
        "6.750000",
        "27.750000",
    )
    assert alpha["pct"] == "3"  # 27.75 of 1000
    ja = client.get("/costs/org/?month=2026-11", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "Langfuse (チューニングプロジェクト) (USD)" in ja and "合計 (USD)" in ja


def test_pages_stay_within_their_query_budget(
    costs_org, clock, client, django_assert_max_num_queries
):
    upsert_daily([row(day=DAY - datetime.timedelta(days=d), key="hash-a1") for d in range(9)])
    for i in range(8):
        p = project(costs_org, f"p{i}", route_key=costs_org["key_a"] if i % 2 else None)
        if i % 2:
            TuningProject.objects.filter(pk=p.pk).update(routed_at=at(NOV))
        for d in range(9):
            langfuse(p, DAY - datetime.timedelta(days=d), "1.50")
    client.force_login(costs_org["lead_a"])
    client.get("/costs/departments/alpha/")  # warm the session
    page_cache.bump("spend")  # the figures are built again, not read from the cache
    with django_assert_max_num_queries(25):
        assert client.get("/costs/departments/alpha/").status_code == 200
    client.force_login(costs_org["infra"])
    client.get("/costs/org/")
    page_cache.bump("spend")
    with django_assert_max_num_queries(25):
        assert client.get("/costs/org/").status_code == 200


def test_lead_home_and_decision_page_count_it_too(costs_org, routed_and_direct, client):
    """The same 27.75 (21 LiteLLM + 6.75 Langfuse) on the lead's home and beside a decision:
    972.25 left now; 972.25 − 50 (the request's budget) = 922.25 if it spends it all."""
    pending = support.make_key(
        costs_org["dev_a"], costs_org["a"], "new", status=Status.SUBMITTED, litellm_key_id=""
    )
    client.force_login(costs_org["lead_a"])
    home = client.get("/").content.decode()
    assert "27.75" in home.split('href="/costs/departments/alpha/"')[1][:300]
    page = client.get(f"/approvals/keys/{pending.pk}/").content.decode()
    money = page.split('id="money"')[1].split("</table>")[0]
    assert ">27.75<" in money and ">972.25<" in money
    assert ">922.25<" in money.split('id="left-after"')[1]
