"""Cost dashboards and CSVs: who sees what, what the CSVs hold, bounded query counts."""

import csv
import datetime
import io
from decimal import Decimal

import pytest

from costs.ingest import upsert_daily
from costs.models import BudgetAlert, IngestionState, MemberBudget
from portal.models import AuditEvent

from . import test_costs_support as support
from .test_costs_support import DAY, make_key, row

pytestmark = pytest.mark.django_db
costs_org = support.costs_org
M = "?month=2026-11"


@pytest.fixture
def spend(costs_org):
    upsert_daily(
        [
            row(key="hash-a1", spend="12.50", prompt=1000, completion=500, requests=10),
            row(key="hash-a1", model="claude-3-5-sonnet", provider="bedrock", spend="7.50"),
            row(key="hash-other", user="oid-lead_a", spend="3.00", requests=4),
            row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="40"),
            row(team="team-ghost", user="", key="hash-g", spend="5"),
            row(day=datetime.date(2026, 10, 3), key="hash-a1", spend="20"),
        ]
    )
    return costs_org


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff"), "CSV starts with the UTF-8 byte order mark (for Excel)"
    body = body.removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


def test_lead_sees_own_department_and_gets_404_for_another(spend, client):
    client.force_login(spend["lead_a"])
    page = client.get(f"/costs/departments/alpha/{M}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="kpi-actual">USD 23.00' in html
    assert "costs-chart-data" in html
    assert client.get(f"/costs/departments/beta/{M}").status_code == 404
    assert client.get(f"/costs/departments/beta/members.csv{M}").status_code == 404
    assert client.get(f"/costs/departments/beta/keys.csv{M}").status_code == 404
    assert client.get("/costs/org/").status_code == 403
    assert client.get("/costs/chargeback.csv").status_code == 403
    assert client.get("/costs/").url == "/costs/departments/alpha/"


def test_developer_sees_only_own_spend(spend, client):
    client.force_login(spend["dev_a"])
    assert client.get(f"/costs/departments/alpha/{M}").status_code == 404
    assert client.get("/costs/org/").status_code == 403
    assert client.get("/costs/").url == "/costs/me/"
    html = client.get(f"/costs/me/{M}").content.decode()
    assert 'id="kpi-actual">USD 20.00' in html
    keys = read_csv(client.get(f"/costs/me/keys.csv{M}"))
    assert [(k["name"], k["spend"]) for k in keys] == [("key-hash-a1", "20.000000")]
    assert keys[0]["pct"] == "40"  # 20 of the key's 50
    models = {m["model"]: m["spend"] for m in read_csv(client.get(f"/costs/me/models.csv{M}"))}
    assert models == {"gpt-4o-mini": "12.500000", "claude-3-5-sonnet": "7.500000"}
    client.force_login(spend["dev_b"])
    keys = read_csv(client.get(f"/costs/me/keys.csv{M}"))
    assert [k["name"] for k in keys] == ["key-hash-b1"]


def test_department_csvs(spend, client):
    client.force_login(spend["lead_a"])
    members = read_csv(client.get(f"/costs/departments/alpha/members.csv{M}"))
    assert [(m["name"], m["spend"]) for m in members] == [
        ("Dev_A", "20.000000"),
        ("Lead_A", "3.000000"),
    ]
    keys = read_csv(client.get(f"/costs/departments/alpha/keys.csv{M}"))
    assert [(k["name"], k["spend"]) for k in keys] == [
        ("key-hash-a1", "20.000000"),
        ("(unattributed key)", "3.000000"),
    ]
    models = read_csv(client.get(f"/costs/departments/alpha/models.csv{M}"))
    assert {m["model"] for m in models} == {"gpt-4o-mini", "claude-3-5-sonnet"}
    assert client.get(f"/costs/departments/alpha/nope.csv{M}").status_code == 404
    # October is a different month.
    october = read_csv(client.get("/costs/departments/alpha/members.csv?month=2026-10"))
    assert [(m["name"], m["spend"]) for m in october] == [("Dev_A", "20.000000")]


def test_infra_sees_everything_and_the_chargeback(spend, client):
    client.force_login(spend["infra"])
    assert client.get(f"/costs/departments/beta/{M}").status_code == 200
    IngestionState.objects.create(source="litellm", last_error="boom")
    html = client.get(f"/costs/org/{M}").content.decode()
    assert 'id="ingestion-health"' in html and "boom" in html
    departments = read_csv(client.get(f"/costs/org/departments.csv{M}"))
    assert [(d["name"], d["spend"], d["previous"]) for d in departments] == [
        ("Beta", "40.000000", "0.000000"),
        ("Alpha", "23.000000", "20.000000"),
        ("(unmapped LiteLLM teams)", "5.000000", "0.000000"),
    ]
    alpha = departments[1]
    assert alpha["unattributed"] == "3.000000" and alpha["change"] == "15"
    unattributed = read_csv(client.get(f"/costs/org/unattributed.csv{M}"))
    assert {(u["team_id"], u["unattributed"], u["unmapped"]) for u in unattributed} == {
        ("team-alpha", "3.000000", "0.000000"),
        ("team-ghost", "5.000000", "5.000000"),
    }
    providers = {
        p["provider"]: p["spend"] for p in read_csv(client.get(f"/costs/org/providers.csv{M}"))
    }
    assert providers == {"openai": "60.500000", "bedrock": "7.500000"}
    cc = {
        c["cost_centre"]: c["spend"]
        for c in read_csv(client.get(f"/costs/org/cost_centres.csv{M}"))
    }
    assert cc == {"CC-beta": "40.000000", "CC-alpha": "23.000000", "": "5.000000"}

    response = client.get("/costs/chargeback.csv?from=2026-10&to=2026-11")
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert list(rows[0]) == [
        "department",
        "cost_centre",
        "month",
        "spend",
        "prompt_tokens",
        "completion_tokens",
        "tokens",
        "requests",
        "unattributed",
        "source",  # LiteLLM, or Langfuse (tuning projects): test_costs_langfuse
        "pipeline_identity",  # on pipeline lines: test_pipelines_costs
    ]
    assert {r["source"] for r in rows} == {"LiteLLM"}
    got = {(r["department"], r["cost_centre"], r["month"]): r["spend"] for r in rows}
    assert got == {
        ("Alpha", "CC-alpha", "2026-10"): "20.000000",
        ("Alpha", "CC-alpha", "2026-11"): "23.000000",
        ("Beta", "CC-beta", "2026-11"): "40.000000",
        ("(unmapped team team-ghost)", "", "2026-11"): "5.000000",
    }
    a_nov = next(r for r in rows if r["department"] == "Alpha" and r["month"] == "2026-11")
    assert a_nov["tokens"] == str(1500 + 150 + 150) and a_nov["requests"] == str(10 + 2 + 4)


def test_tables_are_paginated_and_query_counts_bounded(
    costs_org, client, django_assert_max_num_queries
):
    rows = []
    for i in range(60):
        make_key(costs_org["dev_a"], costs_org["a"], f"hash-many-{i}")
        for d in range(1, 20):
            rows.append(
                row(
                    day=datetime.date(2026, 11, d),
                    key=f"hash-many-{i}",
                    model=f"model-{i % 15}",
                    spend=f"{i + 1}.25",
                )
            )
    upsert_daily(rows)
    client.force_login(costs_org["lead_a"])
    client.get(f"/costs/departments/alpha/{M}")  # warm the session
    with django_assert_max_num_queries(25):
        html = client.get(f"/costs/departments/alpha/{M}").content.decode()
    assert "Page 1 of 6" in html  # 60 keys, 10 a page
    with django_assert_max_num_queries(25):
        partial = client.get(
            f"/costs/departments/alpha/{M}&table=keys&keys_page=2", HTTP_HX_REQUEST="true"
        )
    assert b"Page 2 of 6" in partial.content and b"<html" not in partial.content
    client.force_login(costs_org["infra"])
    client.get(f"/costs/org/{M}")  # warm the session and the cached navigation counts
    with django_assert_max_num_queries(25):
        assert client.get(f"/costs/org/{M}").status_code == 200
    client.force_login(costs_org["dev_a"])
    # Bounded whatever the rows: the pending count is one query for every kind, none per row.
    with django_assert_max_num_queries(15):
        assert client.get(f"/costs/me/{M}").status_code == 200
    keys = read_csv(client.get(f"/costs/me/keys.csv{M}"))
    assert len(keys) == 60  # the CSV holds every row


def test_lead_sets_member_budget_audited(spend, client):
    client.force_login(spend["lead_a"])
    response = client.post(
        "/costs/departments/alpha/member-budget/",
        {"member": spend["dev_a"].pk, "monthly_budget": "25", "month": "2026-11"},
    )
    assert response.status_code == 302
    assert response.url == "/costs/departments/alpha/member-budgets/?page=1"
    page = client.get(response.url).content.decode()
    assert 'value="25.00"' in page and "Dev_A" in page
    assert client.get("/costs/departments/beta/member-budgets/").status_code == 404
    assert MemberBudget.objects.get().monthly_budget == Decimal("25")
    event = AuditEvent.objects.get(action="costs.member_budget_set")
    assert event.after == {"monthly_budget": "25.00", "enforced": False}
    assert event.department_id == spend["a"].pk
    members = read_csv(client.get(f"/costs/departments/alpha/members.csv{M}"))
    assert members[0]["budget"] == "25.000000" and members[0]["pct"] == "80"
    # Not a member of alpha, or another department: refused.
    assert (
        client.post(
            "/costs/departments/alpha/member-budget/",
            {"member": spend["dev_b"].pk, "monthly_budget": "5"},
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/costs/departments/beta/member-budget/",
            {"member": spend["dev_b"].pk, "monthly_budget": "5"},
        ).status_code
        == 404
    )
    client.force_login(spend["dev_a"])
    assert (
        client.post(
            "/costs/departments/alpha/member-budget/",
            {"member": spend["dev_a"].pk, "monthly_budget": "500"},
        ).status_code
        == 404
    )


def test_alerts_page_shows_what_each_role_may_see(spend, client):
    BudgetAlert.objects.create(
        scope="department",
        subject=f"department:{spend['b'].pk}",
        period=DAY.replace(day=1),
        threshold=80,
        department=spend["b"],
        spend=Decimal("800"),
        forecast=Decimal("900"),
        budget=Decimal("1000"),
    )
    client.force_login(spend["lead_a"])
    assert "Beta" not in client.get("/costs/alerts/").content.decode()
    client.force_login(spend["lead_b"])
    assert "Beta" in client.get("/costs/alerts/").content.decode()


def test_csv_cells_never_start_a_formula(spend, client):
    spend["b"].name = '=HYPERLINK("http://evil.example","x")'
    spend["b"].save()
    client.force_login(spend["infra"])
    names = [d["name"] for d in read_csv(client.get(f"/costs/org/departments.csv{M}"))]
    assert names[0] == "'" + spend["b"].name
