"""Cost figures that do not mislead (issue: "a console people enjoy"): small amounts are not
zero, the forecast does not extrapolate a day or two, month over month compares like with
like, empty tables say what they mean, counts are grouped."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from costs import forecast
from costs.ingest import upsert_daily
from portal.templatetags.portal_ui import money, money_text, num

from . import test_costs_support as support
from .test_costs_support import row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
DEC = datetime.date(2026, 12, 1)
NOV = datetime.date(2026, 11, 1)


@pytest.fixture
def on_the_2nd(time_machine):
    # 09:00 JST on December 2: the 2nd in both zones (tests/test_days.py covers the edges).
    time_machine.move_to(datetime.datetime(2026, 12, 2, 0, 0, tzinfo=datetime.UTC), tick=False)


# --- 9. small spend --------------------------------------------------------------------------


def test_small_amounts_keep_significant_digits_and_the_exact_figure_on_hover():
    assert money_text(Decimal("0.000093")) == "0.000093"
    assert money_text(Decimal("0.0042")) == "0.0042"
    assert money_text(Decimal("1234.5")) == "1,234.50"
    assert money_text(Decimal("0")) == "0.00"
    assert 'title="0.00009312"' in money(Decimal("0.00009312"))


def test_a_developers_first_call_does_not_read_as_zero(costs_org, client, on_the_2nd):
    upsert_daily([row(day=DEC, key="hash-a1", spend="0.000093", prompt=12, completion=3)])
    client.force_login(costs_org["dev_a"])
    html = client.get("/costs/me/?month=2026-12").content.decode()
    assert 'id="kpi-actual">USD 0.000093' in html
    assert "0.000093</span>" in html.split('id="table-keys"')[1]


# --- 6. honest forecast, like-for-like month over month ---------------------------------------


def test_forecast_on_the_2nd_does_not_extrapolate_one_day():
    # USD 60 on the first two days of a 31-day month; last month 300 in total (10/day).
    fc = forecast.month_end(Decimal("60"), DEC, datetime.date(2026, 12, 2), Decimal("300"))
    # What the page used to say: 60 ÷ 2 × 31 = 930.00.
    # (60 + 7 × 10) / 9 days ≈ 14.44/day for the 29 days left: 478.89.
    assert fc.value == Decimal("478.89")
    assert (fc.low, fc.high) == (Decimal("350.00"), Decimal("930.00"))


def test_no_forecast_from_a_few_days_without_a_previous_month():
    fc = forecast.month_end(Decimal("60"), DEC, datetime.date(2026, 12, 2), None)
    assert fc.value is None
    late = forecast.month_end(Decimal("300"), DEC, datetime.date(2026, 12, 10), None)
    assert late.value == Decimal("930.00")


def test_a_finished_month_forecasts_its_actual():
    fc = forecast.month_end(Decimal("310"), NOV, datetime.date(2026, 12, 2), Decimal("1"))
    assert fc.final and fc.value == Decimal("310")


@pytest.mark.parametrize("hour, minute", [(0, 1), (23, 59)])
def test_department_page_on_the_2nd_shows_a_blended_forecast(
    costs_org, client, time_machine, hour, minute
):
    rows = [row(day=NOV + datetime.timedelta(days=i), spend="10") for i in range(30)]
    rows.append(row(day=DEC, spend="470"))  # a busy first day: 94 % of a 1000 budget if naive
    upsert_daily(rows)
    client.force_login(costs_org["lead_a"])
    # Any minute of 2 December UTC is day 2 of 31 (23:59 UTC is already the 3rd in Tokyo).
    time_machine.move_to(
        datetime.datetime(2026, 12, 2, hour, minute, tzinfo=datetime.UTC), tick=False
    )
    html = client.get("/costs/departments/alpha/?month=2026-12").content.decode()
    value = html.split('id="kpi-forecast">')[1].split("<")[0]
    # By hand, from the method the forecast documents (costs/forecast.py): last month's daily
    # rate counts as 7 days of evidence beside this month's days so far.
    #   last month: 30 days × USD 10 = 300, so 10/day; this month: 470 over 2 days, 235/day
    #   blended rate: (470 + 7 × 10) / (2 + 7) = 540 / 9 = 60/day; 29 days are left
    #   forecast: 470 + 29 × 60 = 2,210.00
    #   range: 470 + 29 × 10 = 760.00 (last month's rate) to 470 + 29 × 235 = 7,285.00
    assert value == "USD 2,210.00"  # not the naive 470 ÷ 2 × 31 = 7,285.00
    note = html.split('id="forecast-note">')[1].split("</div>")[0]
    assert "Range USD 760.00 – 7,285.00" in note and "2 days of this month" in note


def test_month_over_month_compares_the_same_days(costs_org, client, on_the_2nd):
    rows = [row(day=NOV + datetime.timedelta(days=i), spend="10") for i in range(30)]
    rows += [row(day=DEC, spend="10"), row(day=DEC + datetime.timedelta(days=1), spend="10")]
    upsert_daily(rows)
    client.force_login(costs_org["infra"])
    html = client.get("/costs/org/?month=2026-12").content.decode()
    assert 'id="kpi-previous">USD 20.00' in html  # 1–2 November, not the whole of November
    assert "0 % month over month" in html  # not −93 %
    departments = html.split('id="table-departments"')[1]
    assert "-93" not in departments


# --- 6. empty tables and missing ingestion state say what they mean ---------------------------


def test_keys_near_budget_empty_does_not_claim_no_spend(costs_org, client):
    upsert_daily([row(key="hash-a1", spend="1.00")])
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    near = html.split('id="table-near"')[1].split('id="table-members"')[0]
    assert "No spend in this period." not in near
    assert "No key has used 80 % of its budget" in near


def test_org_page_with_spend_but_no_ingestion_run(costs_org, client):
    upsert_daily([row(key="hash-a1", spend="1.00")])
    client.force_login(costs_org["infra"])
    html = client.get("/costs/org/?month=2026-11").content.decode()
    assert "Spend has not been ingested yet." not in html
    assert 'id="ingestion-none"' in html


def test_token_counts_are_grouped_per_locale(costs_org, client):
    upsert_daily([row(key="hash-a1", spend="1.00", prompt=1_200_000, completion=34_567)])
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/departments/alpha/?month=2026-11").content.decode()
    assert "1,234,567" in html and "1234567" not in html
    with translation.override("ja"):
        assert num(1234567) == "1,234,567"
