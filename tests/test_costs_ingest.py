"""Spend ingestion: idempotent upserts, late rows, attribution, monthly rollups, LiteLLM reads."""

import datetime
import random
from decimal import Decimal

import httpx
import pytest
from django.core.management import call_command
from django.db.models import Sum

from costs import litellm_source
from costs.ingest import METRICS, NATURAL_KEY, refresh_all, upsert_daily
from costs.models import (
    DailySpend,
    IngestionState,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
    TeamDaySpend,
)
from costs.tasks import run_ingestion
from portal.integrations.litellm import key_hash

from . import test_costs_support as support
from .integration import wait_for
from .test_costs_support import DAY, activity_day, row

costs_org = support.costs_org

pytestmark = pytest.mark.django_db


def snapshot():
    daily = sorted(
        DailySpend.objects.values_list(*NATURAL_KEY, *METRICS, "department", "user", "key")
    )
    monthly = sorted(
        MonthlySpend.objects.values_list("month", "team_id", "model", "spend", "department")
    )
    users = sorted(
        MonthlyUserSpend.objects.values_list("month", "litellm_user_id", "spend", "user")
    )
    keys = sorted(
        MonthlyKeySpend.objects.values_list("month", "team_id", "key_hash", "spend", "key")
    )
    days = sorted(TeamDaySpend.objects.values_list("day", "team_id", "spend", "requests"))
    return daily, monthly, users, keys, days


def test_upsert_twice_leaves_the_same_tables(costs_org):
    rows = [
        row(),
        row(model="claude-3-5-sonnet", provider="bedrock", spend="2.5"),
        row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="4"),
    ]
    assert upsert_daily(rows).changed == 3
    first = snapshot()
    assert upsert_daily(rows).changed == 0  # nothing new: nothing written
    assert snapshot() == first
    # More decimals than stored (LiteLLM sends floats): still recognised as unchanged.
    assert upsert_daily([row(spend="1.000000001")]).changed == 0
    assert DailySpend.objects.count() == 3
    assert MonthlySpend.objects.aggregate(s=Sum("spend"))["s"] == Decimal("7.5")


def test_a_row_reported_twice_in_a_batch_is_summed(costs_org):
    result = upsert_daily([row(spend="1.25", requests=2), row(spend="0.5", requests=3), row()])
    assert result.rows == 1 and result.changed == 1
    obj = DailySpend.objects.get()
    assert obj.spend == Decimal("2.75") and obj.requests == 7 and obj.key == costs_org["key_a"]
    assert MonthlySpend.objects.get().spend == Decimal("2.75")
    # The same total in one row is the same row: nothing to write.
    assert upsert_daily([row(spend="2.75", requests=7, prompt=300, completion=150)]).changed == 0


def test_attribution_resolves_department_user_and_key(costs_org):
    upsert_daily([row()])
    obj = DailySpend.objects.get()
    assert obj.department == costs_org["a"]
    assert obj.user == costs_org["dev_a"]
    assert obj.key == costs_org["key_a"]


def test_late_rows_replace_the_day_and_update_the_month(costs_org):
    upsert_daily([row(spend="1.00", requests=2)])
    # LiteLLM's row for the same day grew after our last read: the re-read replaces it.
    upsert_daily([row(spend="3.25", requests=7)])
    obj = DailySpend.objects.get()
    assert obj.spend == Decimal("3.25") and obj.requests == 7
    # A day we had not seen arrives late too.
    upsert_daily([row(day=DAY - datetime.timedelta(days=3), spend="1.75")])
    month = MonthlySpend.objects.get(department=costs_org["a"])
    assert month.spend == Decimal("5.00")


def test_unattributed_spend_is_kept(costs_org):
    upsert_daily(
        [
            row(key="hash-made-elsewhere", user="someone-else", spend="2"),
            row(team="team-unknown", key="hash-x", user="", spend="5"),
            row(team="", key="hash-noteam", user="", spend="1"),
        ]
    )
    elsewhere = DailySpend.objects.get(key_hash="hash-made-elsewhere")
    assert elsewhere.department == costs_org["a"] and elsewhere.key is None
    assert elsewhere.user is None
    unknown = DailySpend.objects.get(team_id="team-unknown")
    assert unknown.department is None
    assert DailySpend.objects.count() == 3
    alpha = MonthlySpend.objects.get(team_id="team-alpha")
    assert alpha.unattributed_spend == Decimal("2") and alpha.spend == Decimal("2")
    assert MonthlySpend.objects.get(team_id="team-unknown").department is None


def test_monthly_rollups_equal_the_sum_of_daily_rows(costs_org):
    rng = random.Random(7)
    rows = []
    for _ in range(400):
        day = datetime.date(2026, 9, 1) + datetime.timedelta(days=rng.randrange(80))
        rows.append(
            row(
                day=day,
                team=rng.choice(["team-alpha", "team-beta", "team-unknown"]),
                user=rng.choice(["oid-dev_a", "oid-dev_b", "u-3", ""]),
                key=rng.choice(["hash-a1", "hash-b1", "hash-z"]),
                model=rng.choice(["gpt-4o-mini", "claude-3-5-sonnet", "gemini-2.0-flash"]),
                spend=f"{rng.random() * 3:.6f}",
                prompt=rng.randrange(1000),
                completion=rng.randrange(500),
                requests=rng.randrange(1, 9),
            )
        )
    # Two batches, overlapping: the second re-reads half the first.
    upsert_daily(rows[:300])
    upsert_daily(rows[150:])
    for month in (datetime.date(2026, m, 1) for m in (9, 10, 11)):
        nxt = (month + datetime.timedelta(days=32)).replace(day=1)
        daily = DailySpend.objects.filter(day__gte=month, day__lt=nxt)
        expect = daily.aggregate(s=Sum("spend"), p=Sum("prompt_tokens"), r=Sum("requests"))
        got = MonthlySpend.objects.filter(month=month).aggregate(
            s=Sum("spend"), p=Sum("prompt_tokens"), r=Sum("requests")
        )
        got_users = MonthlyUserSpend.objects.filter(month=month).aggregate(s=Sum("spend"))
        assert got == expect
        assert got_users["s"] == expect["s"]
        by_dept = dict(daily.values_list("department").annotate(s=Sum("spend")))
        assert by_dept == dict(
            MonthlySpend.objects.filter(month=month)
            .values_list("department")
            .annotate(s=Sum("spend"))
        )
    # The rollups moved by deltas equal a rebuild from the daily rows.
    before = snapshot()
    refresh_all()
    assert snapshot() == before


def rollup_rows():
    """Every column of every rollup (ids aside), sorted: to compare deltas with a rebuild."""
    return [
        sorted(
            tuple(r.values())
            for r in model.objects.values(
                *(f.attname for f in model._meta.concrete_fields if f.attname != "id")
            )
        )
        for model in (MonthlySpend, MonthlyUserSpend, MonthlyKeySpend, TeamDaySpend)
    ]


def test_rollup_deltas_equal_a_rebuild_when_a_key_is_mapped_later(costs_org):
    first = [
        row(key="hash-late", spend="2.5"),
        row(key="hash-late", model="claude-3-5-sonnet", provider="bedrock", spend="1.25"),
        row(spend="4"),
        row(day=DAY - datetime.timedelta(days=1), key="hash-late", spend="0.5"),
    ]
    upsert_daily(first)
    month = MonthlySpend.objects.get(team_id="team-alpha", model="gpt-4o-mini")
    assert month.unattributed_spend == Decimal("3")
    support.make_key(costs_org["dev_a"], costs_org["a"], "hash-late")
    # Re-read: one row unchanged but now attributed, one grown and attributed, one new.
    result = upsert_daily(
        [
            first[0],
            row(key="hash-late", model="claude-3-5-sonnet", provider="bedrock", spend="2"),
            first[2],
            row(key="hash-late", model="gemini-2.0-flash", provider="vertex_ai", spend="1"),
        ]
    )
    assert result.changed == 3  # first[2] is stored as is
    month.refresh_from_db()
    assert month.unattributed_spend == Decimal("0.5")  # the day before was not re-read
    by_delta = rollup_rows()
    refresh_all()
    assert rollup_rows() == by_delta


def test_deleting_a_key_or_user_empties_their_spend_rows(costs_org):
    # The spend tables' foreign keys have no database constraint: on_delete is Django's.
    upsert_daily([row(), row(team="team-beta", user="oid-lead_b", key="hash-b1")])
    assert DailySpend.objects.filter(user=costs_org["lead_b"]).exists()
    costs_org["key_a"].delete()
    costs_org["lead_b"].delete()
    alpha, beta = DailySpend.objects.order_by("team_id")
    assert alpha.key_id is None and alpha.user == costs_org["dev_a"]
    assert beta.user_id is None and beta.key == costs_org["key_b"]
    assert beta.department == costs_org["b"]
    # The rollups' too (copies of the daily rows' ids, no database constraint either).
    assert MonthlyKeySpend.objects.get(key_hash="hash-a1").key_id is None
    assert MonthlyUserSpend.objects.get(litellm_user_id="oid-lead_b").user_id is None
    # A re-read resolves what is left and moves no money.
    before = MonthlySpend.objects.aggregate(s=Sum("spend"))["s"]
    upsert_daily([row(), row(team="team-beta", user="oid-lead_b", key="hash-b1")])
    assert MonthlySpend.objects.aggregate(s=Sum("spend"))["s"] == before


def test_bulk_create_and_sql_upserts_agree(costs_org):
    rows = [row(), row(key="hash-zz", spend="2"), row(team="team-beta", key="hash-b1")]
    upsert_daily(rows, method="bulk_create")
    upsert_daily([row(spend="5")], method="bulk_create")
    by_bulk = snapshot()
    DailySpend.objects.all().delete()
    for model in (MonthlySpend, MonthlyUserSpend, MonthlyKeySpend, TeamDaySpend):
        model.objects.all().delete()
    upsert_daily(rows)
    upsert_daily([row(spend="5")])
    assert snapshot() == by_bulk
    assert MonthlySpend.objects.get(team_id="team-alpha", model="gpt-4o-mini").spend == Decimal(7)


def test_team_mapped_later_is_picked_up_on_reread(costs_org):
    upsert_daily([row(team="team-new", key="hash-n", spend="3")])
    assert MonthlySpend.objects.get().department is None
    costs_org["b"].litellm_team_id = "team-new"
    costs_org["b"].save()
    upsert_daily([row(team="team-new", key="hash-n", spend="3")])
    assert MonthlySpend.objects.get().department == costs_org["b"]


# --- reading LiteLLM's /team/daily/activity ------------------------------------------------

CELLS = [
    {
        "team": "team-alpha",
        "key": "hash-a1",
        "user": "oid-dev_a",
        "alias": "portal-1-bot",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "spend": 1.5,
        "prompt": 100,
        "completion": 40,
        "requests": 3,
        "failed": 1,
    },
    {
        "team": "team-alpha",
        "key": "hash-a1",
        "user": "oid-dev_a",
        "alias": "portal-1-bot",
        "model": "claude-3-5-sonnet",
        "provider": "bedrock",
        "spend": 0.25,
        "prompt": 10,
        "completion": 5,
        "requests": 1,
    },
    {
        "team": "team-beta",
        "key": "hash-b1",
        "user": "oid-dev_b",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "spend": 2.0,
        "prompt": 200,
        "completion": 80,
        "requests": 4,
    },
]


def test_rows_from_a_litellm_day():
    rows = {
        (r.team_id, r.key_hash, r.model): r
        for r in litellm_source.rows_from_day(activity_day("2026-11-10", CELLS))
    }
    assert set(rows) == {
        ("team-alpha", "hash-a1", "gpt-4o-mini"),
        ("team-alpha", "hash-a1", "claude-3-5-sonnet"),
        ("team-beta", "hash-b1", "gpt-4o-mini"),
    }
    a = rows[("team-alpha", "hash-a1", "gpt-4o-mini")]
    assert a.day == datetime.date(2026, 11, 10)
    assert a.spend == Decimal("1.5") and a.requests == 3 and a.failures == 1
    assert a.successes == 2 and a.prompt_tokens == 100 and a.completion_tokens == 40
    assert a.user_id == "oid-dev_a" and a.key_alias == "portal-1-bot"
    # The key used two providers that day: each model gets its own provider.
    assert a.provider == "openai"
    assert rows[("team-alpha", "hash-a1", "claude-3-5-sonnet")].provider == "bedrock"


def test_truncated_key_lists_keep_the_totals():
    day = activity_day("2026-11-10", CELLS)
    del day["breakdown"]["model_groups"]["gpt-4o-mini"]["api_key_breakdown"]["hash-b1"]
    rows = litellm_source.rows_from_day(day)
    assert sum(r.spend for r in rows) == Decimal("3.75")
    rest = [r for r in rows if not r.key_hash]
    assert len(rest) == 1 and rest[0].spend == Decimal("2") and rest[0].team_id == ""


def _transport(pages, seen):
    def handler(request: httpx.Request):
        assert request.headers["Authorization"] == "Bearer sk-master"
        if request.url.path == "/user/daily/activity":  # keys without a team: none here
            meta = {"page": 1, "total_pages": 1, "has_more": False}
            return httpx.Response(200, json={"results": [], "metadata": meta})
        seen.append(request)
        assert request.url.path == "/team/daily/activity"
        page = int(request.url.params["page"])
        return httpx.Response(200, json=pages[page - 1])

    return httpx.MockTransport(handler)


def _pages():
    # LiteLLM pages over table rows: 2026-11-10 is split across pages 1 and 2.
    p1 = {
        "results": [activity_day("2026-11-09", CELLS[2:]), activity_day("2026-11-10", CELLS[:1])],
        "metadata": {"page": 1, "total_pages": 2, "has_more": True},
    }
    p2 = {
        "results": [activity_day("2026-11-10", CELLS[1:])],
        "metadata": {"page": 2, "total_pages": 2, "has_more": False},
    }
    return [p1, p2]


@pytest.fixture
def litellm_mock(settings, monkeypatch):
    settings.LITELLM_BASE_URL = "http://litellm.test"
    settings.LITELLM_MASTER_KEY = "sk-master"
    seen: list = []
    state = {"pages": _pages(), "fail": False}

    def client():
        if state["fail"]:
            return httpx.Client(
                base_url="http://litellm.test",
                transport=httpx.MockTransport(lambda r: httpx.Response(503)),
            )
        return httpx.Client(
            base_url="http://litellm.test",
            headers={"Authorization": "Bearer sk-master"},
            transport=_transport(state["pages"], seen),
        )

    monkeypatch.setattr(litellm_source, "_client", client)
    return {"seen": seen, "state": state}


def test_fetch_reads_every_page_and_merges_split_days(litellm_mock):
    rows, pages = litellm_source.fetch_rows(datetime.date(2026, 11, 9), datetime.date(2026, 11, 10))
    assert pages == 2
    params = litellm_mock["seen"][0].url.params
    assert params["start_date"] == "2026-11-09" and params["end_date"] == "2026-11-10"
    assert sorted((str(r.day), r.key_hash, r.model) for r in rows) == [
        ("2026-11-09", "hash-b1", "gpt-4o-mini"),
        ("2026-11-10", "hash-a1", "claude-3-5-sonnet"),
        ("2026-11-10", "hash-a1", "gpt-4o-mini"),
        ("2026-11-10", "hash-b1", "gpt-4o-mini"),
    ]


def test_run_ingestion_records_success_and_failure(costs_org, litellm_mock):
    result = run_ingestion(3, end=datetime.date(2026, 11, 10))
    assert result.rows == 4
    state = IngestionState.objects.get()
    # Two pages of the team table, one of the user table (keys without a team).
    assert state.healthy and state.rows_upserted == 4 and state.pages_read == 3
    assert state.window_start == datetime.date(2026, 11, 8)
    assert DailySpend.objects.filter(key=costs_org["key_a"]).count() == 2
    # The same window again: nothing changes.
    before = snapshot()
    run_ingestion(3, end=datetime.date(2026, 11, 10))
    assert snapshot() == before

    litellm_mock["state"]["fail"] = True
    with pytest.raises(litellm_source.SourceError):
        run_ingestion(3, end=datetime.date(2026, 11, 10))
    state.refresh_from_db()
    assert not state.healthy and "503" in state.last_error
    assert snapshot() == before  # a failed read changes nothing


def test_backfill_command_reads_in_weekly_chunks(costs_org, litellm_mock, capsys):
    call_command("backfill_spend", "--days", "20")
    windows = {(r.url.params["start_date"], r.url.params["end_date"]) for r in litellm_mock["seen"]}
    assert len(windows) == 3  # 20 days in chunks of 7
    assert "rows upserted over 20 days" in capsys.readouterr().out


def test_tasks_as_functions(costs_org, litellm_mock, monkeypatch):
    from costs import tasks

    queued = []
    monkeypatch.setattr(tasks.check_budgets, "delay", lambda: queued.append(1))
    monkeypatch.setattr(tasks.detect_anomalies, "delay", lambda: queued.append(2))
    assert tasks.ingest_spend(2) >= 0 and queued == [1, 2]
    litellm_mock["state"]["fail"] = True
    assert tasks.ingest_spend(2) == 0 and queued == [1, 2]  # failure recorded, no alert run
    assert not IngestionState.objects.get().healthy
    assert tasks.check_budgets() == 0


# --- the same paging against the real LiteLLM proxy ------------------------------------------


def _call(base_url: str, secret: str, model: str, path: str = "/v1/chat/completions"):
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
    if path == "/v1/completions":  # the text-completion endpoint takes a prompt
        body = {"model": model, "prompt": "Hello"}
    response = httpx.post(
        f"{base_url}{path}",
        headers={"Authorization": f"Bearer {secret}"},
        json=body,
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]


@pytest.mark.litellm
def test_real_daily_activity_read_one_row_a_page_is_merged_like_one_page(costs_org, litellm):
    """Real spend in one team of the real proxy, read back one LiteLLM table row per page:
    every page is read, the cells split over pages are summed, and the result is the same as
    reading it all in one page. LiteLLM keeps a row per key × model × endpoint, so the same
    key and model called on chat and text completions is one of our cells in two rows: with a
    row a page, split over two pages."""
    api, run, team_id, user_id = support.team_of_dev_a(litellm, costs_org, "paging")
    k1, k2, k3 = (
        api.generate_key(key_alias=f"paging-{n}-{run}", team_id=team_id, user_id=user_id)
        for n in (1, 2, 3)
    )
    first_day = datetime.datetime.now(datetime.UTC).date()
    _call(litellm.base_url, k1["key"], "gpt-4o-mini")
    _call(litellm.base_url, k1["key"], "gpt-4o-mini")
    _call(litellm.base_url, k1["key"], "gpt-4o-mini", path="/v1/completions")
    _call(litellm.base_url, k2["key"], "gpt-4o-mini")
    _call(litellm.base_url, k2["key"], "claude-3-5-sonnet")
    _call(litellm.base_url, k3["key"], "gpt-4o-mini")
    today = datetime.datetime.now(datetime.UTC).date()  # (the same day, unless at midnight)
    # Only this team's rows (LiteLLM's team_ids filter), so the page count is ours alone.
    http = httpx.Client(
        base_url=litellm.base_url,
        headers={"Authorization": f"Bearer {litellm.master_key}"},
        params={"team_ids": team_id},
        timeout=30,
    )

    def all_written():  # LiteLLM writes its daily tables in batches
        rows, _pages = litellm_source.fetch_rows(first_day, today, client=http)
        return rows if sum(r.requests for r in rows) == 6 else None

    whole = wait_for(all_written, timeout=120, interval=1, message="the 6 calls never showed")
    raw_pages = list(litellm_source.iter_pages(first_day, today, client=http, page_size=1))
    assert len(raw_pages) >= 5  # k1 × 2 endpoints, k2 × 2 models, k3: a row a page
    h1 = key_hash(k1["key"])
    split = [
        page
        for page in raw_pages
        for result in page["results"]
        if any(r.key_hash == h1 for r in litellm_source.rows_from_day(result))
    ]
    assert len(split) == 2, "k1's calls on two endpoints should be two LiteLLM rows"

    paged, pages = litellm_source.fetch_rows(first_day, today, client=http, page_size=1)
    assert pages == len(raw_pages)

    def cells(rows):
        return {
            (r.day, r.team_id, r.key_hash, r.model): (
                r.requests,
                r.prompt_tokens,
                r.completion_tokens,
                r.user_id,
            )
            for r in rows
        }

    assert len(cells(paged)) == len(paged)  # one row per cell: the split cell merged
    assert cells(paged) == cells(whole)
    assert abs(sum(r.spend for r in paged) - sum(r.spend for r in whole)) < Decimal("1e-8")
    by_key = {}
    for r in paged:
        by_key.setdefault(r.key_hash, []).append(r)
    assert sum(r.requests for r in by_key[h1]) == 3  # all three calls, split cell summed
    assert {(r.team_id, r.user_id) for r in by_key[h1]} == {(team_id, user_id)}
    assert sum(r.requests for r in by_key[key_hash(k2["key"])]) == 2
    assert sum(r.requests for r in by_key[key_hash(k3["key"])]) == 1

    # Stored: one daily row per cell, the split one counted once with all its calls.
    costs_org["a"].litellm_team_id = team_id
    costs_org["a"].save()
    upsert_daily(paged)
    assert DailySpend.objects.filter(key_hash=h1).aggregate(r=Sum("requests"))["r"] == 3
    assert DailySpend.objects.filter(team_id=team_id).aggregate(r=Sum("requests"))["r"] == 6
    assert MonthlySpend.objects.filter(team_id=team_id).aggregate(s=Sum("spend"))["s"] == sum(
        r.spend for r in paged
    )
