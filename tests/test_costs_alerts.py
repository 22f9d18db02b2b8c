"""Forecast math and budget alerts: each threshold fires once per period per subject."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail

from costs import alerts, forecast, periods
from costs.ingest import upsert_daily
from costs.models import BudgetAlert, MemberBudget
from portal.models import AuditEvent

from . import test_costs_support as support
from .test_costs_support import DAY, row

costs_org = support.costs_org
NOV = datetime.date(2026, 11, 1)


def test_elapsed_days():
    assert periods.elapsed_days(NOV, datetime.date(2026, 11, 1)) == 1
    assert periods.elapsed_days(NOV, datetime.date(2027, 1, 5)) == 30
    assert periods.elapsed_days(NOV, datetime.date(2026, 10, 5)) == 0


def test_months_and_percent():
    assert periods.add_months(NOV, 2) == datetime.date(2027, 1, 1)
    assert periods.add_months(NOV, -11) == datetime.date(2025, 12, 1)
    assert periods.parse_month("2026-02", NOV) == datetime.date(2026, 2, 1)
    assert periods.parse_month("garbage", NOV) == NOV
    assert periods.percent(Decimal("80"), Decimal("100")) == 80
    assert periods.percent(Decimal("1"), Decimal("0")) is None


@pytest.fixture
def evaluate_and_send(django_capture_on_commit_callbacks):
    """``alerts.evaluate`` on a day, then what it sends after the commit (mail, webhook)."""

    def run(day):
        with django_capture_on_commit_callbacks(execute=True):
            return alerts.evaluate(day)

    return run


@pytest.mark.django_db
def test_department_thresholds_fire_once_each(costs_org, evaluate_and_send):
    # Day 10 of 30: 850 of 1000 spent → 80 % reached, forecast 2550 over budget.
    upsert_daily([row(key="hash-other", spend="850")])
    fired = evaluate_and_send(DAY)
    dept = [a for a in fired if a.scope == "department"]
    assert sorted((a.kind, a.threshold) for a in dept) == [("actual", 80), ("forecast", 100)]
    assert all(a.department == costs_org["a"] and a.period == NOV for a in dept)
    assert {tuple(m.to) for m in mail.outbox} == {("lead_a@example.com",)}
    assert AuditEvent.objects.filter(action="costs.budget_alert").count() == len(fired)

    # Nothing new: nothing fires again, nothing is sent again.
    mail.outbox.clear()
    assert evaluate_and_send(DAY) == []
    assert mail.outbox == []

    # 100 % is reached later the same month: only that one fires.
    upsert_daily([row(key="hash-other", spend="1000")])
    fired = evaluate_and_send(DAY + datetime.timedelta(days=2))
    assert [(a.scope, a.kind, a.threshold) for a in fired] == [("department", "actual", 100)]
    assert BudgetAlert.objects.filter(subject=f"department:{costs_org['a'].pk}").count() == 3

    # A new month is a new period.
    upsert_daily([row(day=datetime.date(2026, 12, 20), key="hash-other", spend="900")])
    fired = alerts.evaluate(datetime.date(2026, 12, 20))
    assert {(a.kind, a.threshold, a.period) for a in fired if a.scope == "department"} == {
        ("actual", 80, datetime.date(2026, 12, 1)),
        ("forecast", 100, datetime.date(2026, 12, 1)),  # 900 by day 20 → 1395
    }


@pytest.mark.django_db
def test_key_alert_goes_to_the_developer(costs_org, evaluate_and_send):
    # key_a: 50 USD per 30 days. 45 spent → 90 %.
    upsert_daily([row(key="hash-a1", spend="45")])
    fired = evaluate_and_send(DAY)
    key_alerts = [a for a in fired if a.scope == "key"]
    assert [(a.kind, a.threshold) for a in key_alerts] == [("actual", 80), ("forecast", 100)]
    assert key_alerts[0].key == costs_org["key_a"]
    assert ["dev_a@example.com"] in [m.to for m in mail.outbox]
    assert "80% of budget" in mail.outbox[0].subject or "forecast" in mail.outbox[0].subject


@pytest.mark.django_db
def test_member_budget_alert_goes_to_leads(costs_org, settings, evaluate_and_send):
    settings.NOTIFY_WEBHOOK_URL = ""
    MemberBudget.objects.create(
        department=costs_org["a"], user=costs_org["dev_a"], monthly_budget=Decimal("10")
    )
    upsert_daily([row(key="hash-a1", spend="12")])
    fired = evaluate_and_send(DAY)
    member = [a for a in fired if a.scope == "member"]
    assert sorted(a.threshold for a in member) == [80, 100]
    assert member[0].user == costs_org["dev_a"]
    assert member[0].recipients == ["lead_a@example.com"]


@pytest.mark.django_db
def test_under_budget_fires_nothing(costs_org):
    upsert_daily([row(key="hash-other", spend="100")])  # 10 %, forecast 300 of 1000
    assert alerts.evaluate(DAY) == []


# --- the alert's forecast is the dashboards' forecast --------------------------------------------
OCT = datetime.date(2026, 10, 1)


def october(per_day: str) -> list:
    return [
        row(day=OCT + datetime.timedelta(days=i), key="hash-other", spend=per_day)
        for i in range(31)
    ]


@pytest.mark.django_db
def test_no_forecast_alert_while_it_is_too_early(costs_org):
    # The 2nd, no previous month: 470 of 1000 would extrapolate to 7,285. Too early to say.
    upsert_daily([row(day=datetime.date(2026, 11, 2), key="hash-other", spend="470")])
    fired = alerts.evaluate(datetime.date(2026, 11, 2))
    assert [a for a in fired if a.scope == "department"] == []


@pytest.mark.django_db
def test_a_quiet_last_month_tempers_the_forecast(costs_org):
    # Day 10: 400 spent (run rate 1,200 of 1,000) but October ran at 10 a day: blended
    # (400 + 7 × 10) / 17 days for the 20 left → 952.94, under budget: no alert.
    upsert_daily(october("10") + [row(key="hash-other", spend="400")])
    assert [a for a in alerts.evaluate(DAY) if a.scope == "department"] == []


@pytest.mark.django_db
def test_forecast_alert_agrees_with_the_dashboards(costs_org, client, time_machine):
    time_machine.move_to(datetime.datetime(2026, 11, 10, 12, tzinfo=datetime.UTC), tick=False)
    upsert_daily(october("30") + [row(key="hash-other", spend="500")])
    fired = [a for a in alerts.evaluate(DAY) if a.scope == "department"]
    assert [(a.kind, a.threshold) for a in fired] == [("forecast", 100)]
    expected = forecast.month_end(Decimal("500"), NOV, DAY, Decimal("930"))
    assert fired[0].forecast == expected.value == Decimal("1335.29")
    client.force_login(costs_org["lead_a"])
    page = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    assert page.split('id="kpi-forecast">')[1].split("<")[0] == "USD 1,335.29"
    home = client.get("/").content.decode().split('id="home-departments"')[1]
    assert "1,335.29" in home.split("</section>")[0]
    text = alerts.describe(fired[0], expected)
    assert "$1335.29 (between $1100.00 and $1500.00)" in text


@pytest.mark.django_db
def test_alerts_page_says_too_early_rather_than_a_forecast(costs_org, client):
    upsert_daily([row(day=datetime.date(2026, 11, 2), key="hash-other", spend="900")])
    fired = alerts.evaluate(datetime.date(2026, 11, 2))
    dept = [a for a in fired if a.scope == "department"]
    assert [(a.kind, a.threshold, a.forecast) for a in dept] == [("actual", 80, Decimal(0))]
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    alert_rows = html.split('class="alerts"')[1].split("</table>")[0]
    assert "too early" in alert_rows
