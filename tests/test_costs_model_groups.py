"""Spend by model group (``costs.model_groups``): LiteLLM's ``model_group`` names every row,
never the provider model behind it, and rows stored under the provider model are converted
(renamed with the catalogue's mapping, or replaced where their day is read again)."""

import datetime
from decimal import Decimal

import httpx
import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from catalogue import services as catalogue
from catalogue.models import CatalogueModel
from costs import litellm_source, model_groups, reports
from costs.ingest import METRICS, NATURAL_KEY, refresh_all, upsert_daily
from costs.models import (
    BudgetAlert,
    DailySpend,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
    SoftBudget,
    SpendAnomaly,
    TeamDaySpend,
)
from costs.spend_rows import SpendRow
from costs.tasks import run_ingestion
from portal.integrations.litellm import key_hash
from portal.models import AuditEvent

from . import test_costs_support as support
from .integration import chat, wait_for
from .test_costs_support import DAY, activity_day, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org

SONNET = "claude-3-5-sonnet"
SONNET_DEPLOYMENT = "anthropic/claude-3-5-sonnet-20241022"  # as tests' config.yaml routes it
MINI_DEPLOYMENT = "openai/gpt-4o-mini"


def sonnet_cell(**extra):
    cell = {
        "team": "team-alpha",
        "key": "hash-a1",
        "user": "oid-dev_a",
        "model": SONNET,
        "deployment": SONNET_DEPLOYMENT,
        "provider": "anthropic",
        "spend": 0.75,
        "prompt": 30,
        "completion": 10,
        "requests": 2,
    }
    return cell | extra


def tables():
    """Every spend table, as sorted tuples (what a conversion must leave consistent)."""
    daily = sorted(DailySpend.objects.values_list(*NATURAL_KEY, *METRICS, "key", "department"))
    rollups = [
        sorted(
            tuple(r.values())
            for r in model.objects.values(
                *(f.attname for f in model._meta.concrete_fields if f.attname != "id")
            )
        )
        for model in (MonthlySpend, MonthlyUserSpend, MonthlyKeySpend, TeamDaySpend)
    ]
    return daily, rollups


def assert_rollups_agree_with_daily_rows():
    before = tables()
    refresh_all()
    assert tables() == before


def catalogue_model(name, deployments, *, gone=False):
    now = timezone.now()
    return CatalogueModel.objects.create(
        name=name, deployments=deployments, seen_at=now, missing_since=now if gone else None
    )


# --- reading LiteLLM -----------------------------------------------------------------------


def test_rows_are_named_by_the_model_group_not_the_provider_model():
    day = activity_day("2026-11-10", [sonnet_cell(), sonnet_cell(key="hash-a2", spend=0.25)])
    rows = litellm_source.rows_from_day(day)
    assert {r.model for r in rows} == {SONNET}
    assert {r.provider for r in rows} == {"anthropic"}
    assert sum(r.spend for r in rows) == Decimal("1")
    assert litellm_source.provider_models(day) == {SONNET_DEPLOYMENT}


def test_a_litellm_without_groups_is_read_by_provider_model_and_named_by_the_catalogue():
    day = activity_day("2026-11-10", [sonnet_cell()])
    del day["breakdown"]["model_groups"]
    rows = litellm_source.rows_from_day(day)
    assert [r.model for r in rows] == [SONNET_DEPLOYMENT]
    assert litellm_source.provider_models(day) == set()  # nothing to tell apart
    catalogue_model(SONNET, [SONNET_DEPLOYMENT])
    grouped = model_groups.by_group(rows, catalogue.deployment_groups())
    assert [(r.model, r.spend) for r in grouped] == [(SONNET, Decimal("0.75"))]


def test_spend_logs_name_the_group():
    entry = {
        "startTime": "2026-11-10T23:59:00Z",
        "api_key": "hash-a1",
        "model": SONNET_DEPLOYMENT,
        "model_group": SONNET,
        "custom_llm_provider": "anthropic",
        "spend": 0.5,
    }
    [logged] = litellm_source.rows_from_logs([entry])
    assert logged.model == SONNET and logged.day == DAY
    # A log without a group keeps the provider model (ingestion maps it).
    [bare] = litellm_source.rows_from_logs([entry | {"model_group": ""}])
    assert bare.model == SONNET_DEPLOYMENT


def test_the_catalogue_maps_a_provider_model_only_to_one_group():
    catalogue_model(SONNET, [SONNET_DEPLOYMENT, "bedrock/claude-sonnet"])
    catalogue_model("gpt-4o", ["azure/gpt-4o"])
    catalogue_model("gpt-4o-batch", ["azure/gpt-4o", "gpt-4o"])  # shared; and a group's name
    catalogue_model("claude-3-sonnet", ["bedrock/claude-sonnet"], gone=True)  # served before
    assert catalogue.deployment_groups() == {
        SONNET_DEPLOYMENT: SONNET,
        "bedrock/claude-sonnet": SONNET,  # LiteLLM serves it for this group now
    }


# --- rows stored under the provider model ------------------------------------------------


def stored_the_old_way(costs_org):
    """What ingestion stored before: rows by provider model, one of them sharing its natural
    key with a row stored by group (spend logs fell back to ``model_group``)."""
    upsert_daily(
        [
            row(model=SONNET_DEPLOYMENT, provider="anthropic", spend="2.00", requests=3),
            row(model=SONNET, provider="anthropic", spend="0.50", requests=1),
            row(model=MINI_DEPLOYMENT, spend="1.00"),
            row(day=DAY - datetime.timedelta(days=40), model=SONNET_DEPLOYMENT, spend="4"),
            row(team="team-beta", user="oid-dev_b", key="hash-b1", model="gpt-4o", spend="9"),
        ]
    )
    catalogue_model(SONNET, [SONNET_DEPLOYMENT])
    catalogue_model("gpt-4o-mini", [MINI_DEPLOYMENT])
    SoftBudget.objects.create(
        department=costs_org["a"],
        scope="model",
        model=SONNET_DEPLOYMENT,
        subject=SoftBudget.subject_for(costs_org["a"].pk, "model", SONNET_DEPLOYMENT),
        monthly_budget=Decimal("2"),
    )
    BudgetAlert.objects.create(
        scope="model",
        subject=SoftBudget.subject_for(costs_org["a"].pk, "model", SONNET_DEPLOYMENT),
        period=DAY.replace(day=1),
        threshold=100,
        department=costs_org["a"],
        spend=Decimal("2"),
        forecast=Decimal("2"),
        budget=Decimal("2"),
    )
    SpendAnomaly.objects.create(
        scope="department",
        subject=f"department:{costs_org['a'].pk}",
        day=DAY,
        department=costs_org["a"],
        spend=Decimal("3"),
        baseline=Decimal("1"),
        limit=Decimal("2"),
        top_model=SONNET_DEPLOYMENT,
    )


def test_stored_rows_are_renamed_to_their_group_and_summed_where_they_meet(costs_org):
    stored_the_old_way(costs_org)
    spend_before = DailySpend.objects.aggregate(s=Sum("spend"))["s"]
    assert model_groups.rename_stored(catalogue.deployment_groups()) == 3

    assert set(DailySpend.objects.values_list("model", flat=True)) == {
        SONNET,
        "gpt-4o-mini",
        "gpt-4o",
    }
    merged = DailySpend.objects.get(day=DAY, model=SONNET)  # two rows met: one, summed
    assert (merged.spend, merged.requests) == (Decimal("2.5"), 4)
    assert merged.key == costs_org["key_a"] and merged.department == costs_org["a"]
    assert DailySpend.objects.aggregate(s=Sum("spend"))["s"] == spend_before
    assert_rollups_agree_with_daily_rows()
    assert set(MonthlySpend.objects.values_list("model", flat=True)) == {
        SONNET,
        "gpt-4o-mini",
        "gpt-4o",
    }
    # The soft budget follows its spend, with the alert it fired; audited.
    budget = SoftBudget.objects.get()
    assert budget.model == SONNET and budget.subject.endswith(f":{SONNET}")
    assert BudgetAlert.objects.get().subject == budget.subject
    event = AuditEvent.objects.get(action=model_groups.SOFT_BUDGET_RENAMED)
    assert event.before["model"] == SONNET_DEPLOYMENT and event.after["model"] == SONNET
    assert SpendAnomaly.objects.get().top_model == SONNET

    # Again: nothing to do, whether the mapping is remembered as applied or not.
    after = tables()
    assert model_groups.rename_stored(catalogue.deployment_groups()) == 0
    cache.delete(model_groups.APPLIED)
    assert model_groups.rename_stored(catalogue.deployment_groups()) == 0
    assert tables() == after


def test_a_groups_own_soft_budget_stays_when_both_exist(costs_org):
    stored_the_old_way(costs_org)
    own = SoftBudget.objects.create(
        department=costs_org["a"],
        scope="model",
        model=SONNET,
        subject=SoftBudget.subject_for(costs_org["a"].pk, "model", SONNET),
        monthly_budget=Decimal("50"),
    )
    model_groups.rename_stored(catalogue.deployment_groups())
    assert list(SoftBudget.objects.all()) == [own]
    event = AuditEvent.objects.get(action=model_groups.SOFT_BUDGET_RENAMED)
    assert event.after is None


def test_a_soft_budget_named_by_provider_model_is_saved_under_its_group(costs_org, client):
    catalogue_model(SONNET, [SONNET_DEPLOYMENT])
    client.force_login(costs_org["lead_a"])
    url = "/costs/departments/alpha/soft-budget/"
    form = {"scope": "model", "model": f" {SONNET_DEPLOYMENT} ", "monthly_budget": "10"}
    assert client.post(url, form).status_code == 302
    assert SoftBudget.objects.get().model == SONNET


def test_by_model_tables_hold_one_row_per_group_with_its_providers(costs_org):
    upsert_daily(
        [
            row(model=SONNET, provider="anthropic", spend="2"),
            row(model=SONNET, provider="bedrock", spend="1"),
            row(spend="0.5"),
        ]
    )
    month = DAY.replace(day=1)
    mine = reports.mine_tables(costs_org["dev_a"], month)["models"].paginate(1)
    lead = reports.department_tables(costs_org["a"], month)["models"].paginate(1)
    for table in (mine, lead):
        rows = [(r["model"], r["provider"], r["spend"]) for r in table.page.object_list]
        assert rows == [
            (SONNET, "anthropic, bedrock", Decimal("3")),
            ("gpt-4o-mini", "openai", Decimal("0.5")),
        ]


# --- ingestion: the days it reads again replace rows stored under the provider model -------


@pytest.fixture
def litellm_days(settings, monkeypatch):
    """A LiteLLM answering /team/daily/activity with one day of sonnet and mini cells."""
    settings.LITELLM_BASE_URL = "http://litellm.test"
    cells = [
        sonnet_cell(),
        {**sonnet_cell(), "model": "gpt-4o-mini", "deployment": MINI_DEPLOYMENT, "spend": 0.5},
    ]
    cells[1]["provider"] = "openai"

    def handler(request: httpx.Request):
        results = []
        if request.url.path == "/team/daily/activity":
            results = [activity_day(DAY.isoformat(), cells)]
        meta = {"page": 1, "total_pages": 1, "has_more": False}
        return httpx.Response(200, json={"results": results, "metadata": meta})

    monkeypatch.setattr(
        litellm_source,
        "_client",
        lambda: httpx.Client(
            base_url="http://litellm.test", transport=httpx.MockTransport(handler)
        ),
    )
    return cells


def test_a_reread_day_replaces_rows_stored_under_a_provider_model(costs_org, litellm_days):
    upsert_daily(
        [
            row(model=SONNET_DEPLOYMENT, provider="anthropic", spend="0.40", requests=1),
            row(model=MINI_DEPLOYMENT, spend="0.30", requests=1),
            row(day=DAY - datetime.timedelta(days=40), model=SONNET_DEPLOYMENT, spend="4"),
        ]
    )
    # No catalogue: no mapping. The day read again is LiteLLM's, by group, counted once.
    run_ingestion(1, end=DAY)
    today = DailySpend.objects.filter(day=DAY)
    assert sorted(today.values_list("model", "spend")) == [
        (SONNET, Decimal("0.75")),
        ("gpt-4o-mini", Decimal("0.5")),
    ]
    assert_rollups_agree_with_daily_rows()
    # A day not read again keeps its name until the catalogue knows the provider model.
    old = DailySpend.objects.get(day=DAY - datetime.timedelta(days=40))
    assert old.model == SONNET_DEPLOYMENT
    catalogue_model(SONNET, [SONNET_DEPLOYMENT])
    run_ingestion(1, end=DAY)
    old = DailySpend.objects.get(day=DAY - datetime.timedelta(days=40))  # a new row: renamed
    assert old.model == SONNET and old.spend == Decimal("4")
    assert_rollups_agree_with_daily_rows()


# --- the real LiteLLM proxy ------------------------------------------------------------------


def models_table(api, who, month: datetime.date, path: str) -> list[dict]:
    body = api.get(who, f"{path}?month={month:%Y-%m}&table=models").json()
    return body["rows"]


@pytest.mark.litellm
def test_a_deployment_named_otherwise_is_one_row_named_by_its_group(costs_org, litellm, api):
    """The proxy routes ``claude-3-5-sonnet`` to ``anthropic/claude-3-5-sonnet-20241022``.
    Rows stored the old way (by provider model, one of them beside a row by group) become one
    row per group: the days read again at the next ingestion, the older days once the
    catalogue knows the deployment. The pages and the API then show one row, by group."""
    client, run, team_id, user_id = support.team_of_dev_a(litellm, costs_org, "groups")
    secret = client.generate_key(key_alias=f"groups-{run}", team_id=team_id, user_id=user_id)
    token = key_hash(secret["key"])
    costs_org["a"].litellm_team_id = team_id
    costs_org["a"].save()
    support.make_key(costs_org["dev_a"], costs_org["a"], token, name="grouped")
    # The three calls and the day read back must be one UTC day (LiteLLM dates a call by its
    # own clock): not started in the last two minutes before midnight.
    wait_for(_clear_of_midnight, timeout=180, interval=1)
    for model in (SONNET, SONNET, "gpt-4o-mini"):
        assert chat(litellm.base_url, secret["key"], model).status_code == 200
    today = datetime.datetime.now(datetime.UTC).date()
    older = today - datetime.timedelta(days=10)
    http = httpx.Client(
        base_url=litellm.base_url,
        headers={"Authorization": f"Bearer {litellm.master_key}"},
        params={"team_ids": team_id},
        timeout=30,
    )

    def pages():  # LiteLLM writes its daily tables in batches
        read = list(litellm_source.iter_pages(today, today, client=http))
        calls = sum(r["metrics"]["api_requests"] for p in read for r in p["results"])
        return read if calls == 3 else None

    read = wait_for(pages, timeout=120, interval=1, message="the 3 calls never showed")
    [day] = [r for p in read for r in p["results"]]
    assert set(day["breakdown"]["model_groups"]) == {SONNET, "gpt-4o-mini"}
    assert set(day["breakdown"]["models"]) == {SONNET_DEPLOYMENT, MINI_DEPLOYMENT}
    litellm_spend = Decimal(str(day["metrics"]["spend"]))

    # The portal before: rows by LiteLLM's ``models`` (the provider model), today and on an
    # older day, where a row by group shares a natural key with one of them.
    old_way = {
        **day,
        "breakdown": {k: v for k, v in day["breakdown"].items() if k != "model_groups"},
    }
    before = litellm_source.rows_from_day(old_way)
    assert {r.model for r in before} == {SONNET_DEPLOYMENT, MINI_DEPLOYMENT}
    sonnet_row = next(r for r in before if r.model == SONNET_DEPLOYMENT)
    upsert_daily(
        [
            *before,
            *(SpendRow(**{**r.__dict__, "day": older}) for r in before),
            SpendRow(**{**sonnet_row.__dict__, "day": older, "model": SONNET}),
        ]
    )
    assert_rollups_agree_with_daily_rows()
    shown = models_table(api, costs_org["lead_a"], today, "/costs/departments/alpha")
    assert SONNET_DEPLOYMENT in {r["model"] for r in shown}  # the issue: the provider model

    run_ingestion(2)  # today and yesterday again; no catalogue yet
    ours = DailySpend.objects.filter(team_id=team_id)
    assert set(ours.filter(day=today).values_list("model", flat=True)) == {SONNET, "gpt-4o-mini"}
    assert abs(ours.filter(day=today).aggregate(s=Sum("spend"))["s"] - litellm_spend) < Decimal(
        "1e-8"
    )
    assert SONNET_DEPLOYMENT in set(ours.filter(day=older).values_list("model", flat=True))

    catalogue.refresh()  # the hourly refresh: the catalogue learns each group's deployments
    assert CatalogueModel.objects.get(name=SONNET).deployments == [SONNET_DEPLOYMENT]
    run_ingestion(2)
    assert set(ours.values_list("model", flat=True)) == {SONNET, "gpt-4o-mini"}
    merged = ours.get(day=older, model=SONNET)
    assert abs(merged.spend - 2 * sonnet_row.spend) < Decimal("1e-8") and merged.requests == 4
    assert_rollups_agree_with_daily_rows()

    # Every place that shows spend by model: one row, named by the group.
    for month in sorted({today.replace(day=1), older.replace(day=1)}):
        for who, path in (
            (costs_org["dev_a"], "/costs/me"),
            (costs_org["lead_a"], "/costs/departments/alpha"),
            (costs_org["infra"], "/costs/org"),
        ):
            names = [r["model"] for r in models_table(api, who, month, path)]
            assert names.count(SONNET) == 1 and SONNET_DEPLOYMENT not in names, (path, names)
    api.client.force_login(costs_org["lead_a"])
    html = api.client.get(f"/costs/departments/alpha/?month={today:%Y-%m}").content.decode()
    assert SONNET in html and SONNET_DEPLOYMENT not in html


def _clear_of_midnight() -> bool:
    now = datetime.datetime.now(datetime.UTC)
    midnight = datetime.datetime.combine(
        now.date() + datetime.timedelta(days=1), datetime.time(), datetime.UTC
    )
    return midnight - now > datetime.timedelta(minutes=2)
