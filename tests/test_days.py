"""What a day is: a UTC day for spend, metrics, alerts, anomalies and forecasts; a day in
TIME_ZONE (Asia/Tokyo) for approvals. Every place that turns "now" or a timestamp into a day is
tested with a controlled clock on both sides of midnight UTC and of midnight JST (15:00 UTC),
across a month's end, so nothing here depends on when it runs.

The expected days are written out by hand below, never computed with the code under test.
"""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache

from approvals import delegation
from costs import alerts, anomalies, key_usage, litellm_source
from costs.ingest import upsert_daily
from costs.models import DailySpend
from portal import days

from . import test_costs_support as support
from .test_costs_support import row

UTC = datetime.UTC
JST = ZoneInfo("Asia/Tokyo")
NOV30, DEC1 = datetime.date(2026, 11, 30), datetime.date(2026, 12, 1)
NOV, DEC = datetime.date(2026, 11, 1), datetime.date(2026, 12, 1)

# (the clock, its UTC day, its day in Tokyo): 23:59 and 00:01 UTC, 23:59 and 00:01 JST.
CLOCKS = {
    "23:59 UTC": (datetime.datetime(2026, 11, 30, 23, 59, tzinfo=UTC), NOV30, DEC1),
    "00:01 UTC": (datetime.datetime(2026, 12, 1, 0, 1, tzinfo=UTC), DEC1, DEC1),
    "23:59 JST": (datetime.datetime(2026, 11, 30, 14, 59, tzinfo=UTC), NOV30, NOV30),
    "00:01 JST": (datetime.datetime(2026, 11, 30, 15, 1, tzinfo=UTC), NOV30, DEC1),
}
clocks = pytest.mark.parametrize("clock", list(CLOCKS))
costs_org = support.costs_org


@pytest.fixture
def at():
    """``at(name)``: travel to that clock (frozen) for the rest of the test."""
    travellers = []

    def travel(name: str):
        moment, utc_day, local_day = CLOCKS[name]
        if travellers:
            travellers.pop().stop()
        traveller = time_machine.travel(moment, tick=False)
        traveller.start()
        travellers.append(traveller)
        return utc_day, local_day

    yield travel
    if travellers:
        travellers.pop().stop()


@clocks
def test_the_helpers_count_utc_days(at, clock):
    utc_day, local_day = at(clock)
    assert days.utc_today() == utc_day
    assert days.utc_month_start() == utc_day.replace(day=1)
    assert days.local_today() == local_day  # TIME_ZONE: for approvals only
    moment = CLOCKS[clock][0]
    assert days.utc_day(moment.astimezone(JST)) == utc_day  # whatever zone it is written in
    assert days.utc_month_start(moment.astimezone(JST)) == utc_day.replace(day=1)


def test_timestamps_from_apis_and_naive_datetimes():
    assert days.utc_day_of("2026-11-30T23:59:00Z") == NOV30
    assert days.utc_day_of("2026-12-01T08:59:00+09:00") == NOV30
    assert days.utc_day_of("2026-12-01T00:01:00.123+00:00") == DEC1
    assert days.utc_day_of("2026-11-30 23:59:59") == NOV30  # LiteLLM writes UTC without zone
    assert days.utc_day_of("2026-12-01") == DEC1
    assert days.utc_day_start(DEC1) == datetime.datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        days.utc_day(datetime.datetime(2026, 12, 1, 0, 1))  # no zone: no day


def test_spend_logs_are_filed_under_their_utc_day():
    """LiteLLM's per-request logs (the fallback source) are summed into UTC days."""
    logs = [
        {"startTime": "2026-11-30T23:59:00+00:00", "api_key": "k", "spend": 1, "model": "m"},
        {"startTime": "2026-12-01T08:59:00+09:00", "api_key": "k", "spend": 2, "model": "m"},
        {"startTime": "2026-12-01T00:01:00Z", "api_key": "k", "spend": 4, "model": "m"},
    ]
    by_day: dict[datetime.date, Decimal] = {}
    for r in litellm_source.rows_from_logs(logs):
        by_day[r.day] = by_day.get(r.day, Decimal(0)) + r.spend
    assert by_day == {NOV30: Decimal(3), DEC1: Decimal(4)}


@pytest.mark.django_db
@clocks
def test_the_key_page_counts_utc_days(costs_org, at, clock, client):
    """A key with a daily budget: "spent since" is today's UTC spend; the 30-day chart ends
    on today's UTC day; the first day is the UTC day the key went live."""
    key = costs_org["key_a"]
    key.budget_duration = "1d"
    key.activated_at = datetime.datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 00:30 JST Dec 1
    key.save()
    upsert_daily([row(day=NOV30 - datetime.timedelta(days=1), spend="2.00"), row(day=NOV30)])
    utc_day, _local = at(clock)
    usage = key_usage.panel(key, {})["usage"]
    assert usage["period_start"] == utc_day
    assert usage["spend"] == {NOV30: Decimal(1), DEC1: Decimal(0)}[utc_day]
    assert usage["days"][-1]["day"] == utc_day.isoformat()
    key.budget_duration = ""  # whole lifetime: from the UTC day it went live
    assert key_usage.panel(key, {})["usage"]["period_start"] == NOV30
    client.force_login(costs_org["dev_a"])
    assert "Days are UTC days" in client.get(f"/keys/{key.pk}/").content.decode()


@pytest.mark.django_db
@clocks
def test_budget_alerts_belong_to_the_utc_month(costs_org, at, clock):
    """850 of the department's 1000 spent in November: 80 % is reached in November's period
    while it is still November in UTC (also after midnight in Tokyo), never in December."""
    upsert_daily([row(day=datetime.date(2026, 11, 20), key="hash-other", spend="850")])
    utc_day, _local = at(clock)
    fired = {(a.kind, a.threshold, a.period) for a in alerts.evaluate() if a.scope == "department"}
    assert fired == ({("actual", 80, NOV)} if utc_day.month == 11 else set())


@pytest.mark.django_db
@clocks
def test_anomalies_judge_the_previous_utc_day(costs_org, at, clock):
    """Four weeks of 10 USD a day, then 200 USD on November 29 and on November 30: the daily
    run judges the UTC day before today, so it reports the 29th until midnight UTC, then
    the 30th."""
    history = [
        row(day=NOV30 - datetime.timedelta(days=n), key="hash-a1", spend="10.00")
        for n in range(2, 32)
    ]
    history += [
        row(day=datetime.date(2026, 11, d), key="hash-a1", spend="200.00") for d in (29, 30)
    ]
    upsert_daily(history)
    utc_day, _local = at(clock)
    found = {(a.scope, a.day) for a in anomalies.detect()}
    expected = datetime.date(2026, 11, 29) if utc_day == NOV30 else NOV30
    assert found == {("key", expected), ("department", expected)}


@pytest.mark.django_db
@clocks
def test_cost_pages_show_the_utc_month_and_say_so(costs_org, at, clock, client, settings):
    """The cost pages' "this month" (cached pages too: a page made before midnight UTC is not
    shown after it) and the recent page's last day are UTC."""
    settings.COSTS_PAGE_CACHE_SECONDS = 3600
    cache.clear()
    upsert_daily([row(day=NOV30, key="hash-a1", spend="7.00")])
    client.force_login(costs_org["lead_a"])
    for name in ("23:59 UTC", clock):  # first render before midnight UTC, then at the clock
        utc_day, _local = at(name)
        page = client.get("/costs/departments/alpha/").content.decode()
        assert f"Actual in {utc_day:%Y-%m}" in page
        assert ('id="kpi-actual">USD 7.00' in page) == (utc_day.month == 11)
        assert "Days are UTC days" in page
        recent = client.get("/costs/departments/alpha/recent/").content.decode()
        assert f'value="{utc_day.isoformat()}"' in recent
    cache.clear()


@pytest.mark.django_db
@clocks
def test_my_and_the_org_pages_and_the_focus_default_follow_the_utc_month(
    costs_org, at, clock, client
):
    """ "Spent in" on my page and the organisation's, and the FOCUS export's default (last
    month): months of UTC days."""
    upsert_daily(
        [
            row(day=datetime.date(2026, 10, 15), key="hash-a1", spend="1.00"),
            row(day=datetime.date(2026, 11, 15), key="hash-a1", spend="2.00"),
        ]
    )
    utc_day, _local = at(clock)
    client.force_login(costs_org["dev_a"])
    assert f"Spent in {utc_day:%Y-%m}" in client.get("/costs/me/").content.decode()
    client.force_login(costs_org["infra"])
    assert f"Spent in {utc_day:%Y-%m}" in client.get("/costs/org/").content.decode()
    response = client.get("/costs/focus.csv")
    body = b"".join(response.streaming_content).decode()
    last_month = {11: "2026-10", 12: "2026-11"}[utc_day.month]
    assert f"focus-org-{last_month}-{last_month}.csv" in response["Content-Disposition"]
    assert f"{last_month}-15T00:00:00Z" in body


@pytest.mark.django_db
@clocks
def test_the_home_page_spend_panel_follows_the_utc_month(costs_org, at, clock, client, settings):
    """The home page's panels are cached per day: per UTC day (the spend's month), not only
    per day in Tokyo, so November's spend is not shown as this month's after midnight UTC."""
    settings.NAV_CACHE_SECONDS = 3600  # longer than the clocks are apart
    cache.clear()
    upsert_daily([row(day=NOV30, key="hash-other", spend="123.00")])
    client.force_login(costs_org["lead_a"])
    for name in ("23:59 UTC", clock):
        utc_day, _local = at(name)
        panel = client.get("/").content.decode().split('id="home-departments"')[1]
        panel = panel.split("</section>")[0]
        actual = 'title="123"' in panel  # the month's actual (the forecast shows last month's)
        assert actual == (utc_day.month == 11), (name, panel)
    cache.clear()


@pytest.mark.django_db
@clocks
def test_delegations_run_on_days_in_tokyo(org, at, clock):
    """The exception: approvals count days in TIME_ZONE. A stand-in from December 1 acts from
    00:00 in Tokyo (15:00 UTC on November 30)."""
    from .conftest import make_user

    deputy = make_user("deputy")
    _utc, local_day = at(clock)
    delegation.create(
        delegator=org["lead_a"], delegate=deputy, starts_on=DEC1, ends_on=DEC1, actor=org["lead_a"]
    )
    active = delegation.active().filter(delegate=deputy).exists()
    assert active == (local_day == DEC1)


@pytest.mark.django_db
def test_stored_days_are_what_litellm_said(costs_org):
    """Rows keep LiteLLM's (UTC) day as given: nothing shifts them into a local day."""
    upsert_daily([row(day=NOV30, spend="1.00")])
    assert list(DailySpend.objects.values_list("day", flat=True)) == [NOV30]
