"""Costs, chargeback, projects, departments and the audit log through the API: the same
numbers as the pages' CSVs, infra's policy changes audited."""

import csv
import datetime
import io
from decimal import Decimal

import pytest

from approvals.lifecycle import Status
from costs.ingest import upsert_daily
from portal.models import AuditEvent
from projects.models import TuningProject

from .factories import after_commit
from .test_costs_support import make_key, row

pytestmark = pytest.mark.django_db
M = "month=2026-11"


@pytest.fixture
def spend(api, org):
    org["a"].litellm_team_id = "team-alpha"
    org["a"].save()
    org["b"].litellm_team_id = "team-beta"
    org["b"].save()
    make_key(org["dev_a"], org["a"], "hash-a1")
    upsert_daily(
        [
            row(key="hash-a1", spend="12.50", prompt=1000, completion=500, requests=10),
            row(key="hash-a1", model="claude-3-5-sonnet", provider="bedrock", spend="7.50"),
            row(key="hash-other", user="oid-lead_a", spend="3.00", requests=4),
            row(team="team-beta", user="oid-dev_b", key="hash-b1", spend="40"),
            row(day=datetime.date(2026, 10, 3), key="hash-a1", spend="20"),
        ]
    )
    return api


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_my_costs_as_json_and_csv_hold_the_same_rows(spend, org):
    body = spend.get(org["dev_a"], f"/costs/me?{M}&table=models").json()
    assert body["month"] == "2026-11" and body["columns"][0] == "model"
    by_model = {r["model"]: Decimal(r["spend"]) for r in body["rows"]}
    assert by_model == {"gpt-4o-mini": Decimal("12.5"), "claude-3-5-sonnet": Decimal("7.5")}
    as_csv = spend.get(org["dev_a"], f"/costs/me?{M}&table=models&format=csv")
    assert as_csv["Content-Type"].startswith("text/csv")
    assert {r["model"]: Decimal(r["spend"]) for r in csv_rows(as_csv)} == by_model
    daily = spend.get(org["dev_a"], f"/costs/me/daily?{M}").json()["series"]
    assert daily[9]["day"] == "2026-11-10" and daily[9]["spend"] == 20.0


def test_department_costs_for_its_lead_and_its_service_identity_only(spend, org):
    members = spend.get(org["lead_a"], f"/costs/departments/alpha?{M}").json()
    assert sum(Decimal(r["spend"]) for r in members["rows"]) == Decimal("23")
    monthly = spend.get(org["lead_a"], f"/costs/departments/alpha/monthly?{M}").json()
    assert [m["spend"] for m in monthly["series"][-2:]] == [20.0, 23.0]
    service = spend.get(org["sp_costs"], f"/costs/departments/alpha?{M}&table=models").json()
    assert sum(Decimal(r["spend"]) for r in service["rows"]) == Decimal("23")
    assert spend.get(org["sp_costs"], f"/costs/departments/beta?{M}").status_code == 404
    assert spend.get(org["lead_a"], f"/costs/departments/beta?{M}").status_code == 404


def test_org_costs_and_the_chargeback_for_infra(spend, org):
    depts = spend.get(org["infra"], f"/costs/org?{M}").json()["rows"]
    assert {r["name"]: Decimal(r["spend"]) for r in depts} == {
        "Alpha": Decimal("23"),
        "Beta": Decimal("40"),
    }
    as_json = spend.get(org["infra"], "/costs/chargeback?from=2026-10&to=2026-11").json()
    as_csv = csv_rows(
        spend.get(org["infra"], "/costs/chargeback?from=2026-10&to=2026-11&format=csv")
    )
    assert as_json == as_csv
    assert {(r["department"], r["month"], r["spend"]) for r in as_json} >= {
        ("Alpha", "2026-10", "20.000000"),
        ("Alpha", "2026-11", "23.000000"),
        ("Beta", "2026-11", "40.000000"),
    }


def test_a_project_request_and_its_key_pair_revealed_once(api, org):
    body = {
        "department": "alpha",
        "name": "rag-eval",
        "purpose": "evaluate retrieval",
        "lifetime_days": 500,
        "justification": "tuning",
    }
    too_long = api.post(org["dev_a"], "/projects", body)
    assert too_long.status_code == 422 and "lifetime_days" in too_long.json()["errors"]
    created = api.post(org["dev_a"], "/projects", {**body, "lifetime_days": 7})
    assert created.status_code == 201, created.content
    project = TuningProject.objects.get(pk=created.json()["id"])
    project.status = Status.ACTIVE
    project.public_key = "pk-lf-1"
    project.store_secret("sk-lf-secret")
    project.save()
    revealed = api.post(org["dev_a"], f"/projects/{project.pk}/reveal")
    assert revealed["Cache-Control"] == "no-store"
    assert revealed.json()["settings"]["LANGFUSE_PUBLIC_KEY"] == "pk-lf-1"
    assert revealed.json()["secret"] == "sk-lf-secret"
    assert api.post(org["dev_a"], f"/projects/{project.pk}/reveal").status_code == 410


def test_infra_changes_a_policy_audited_and_validated(api, org, django_capture_on_commit_callbacks):
    org["a"].litellm_team_id = "team-alpha"
    org["a"].save()
    bad = api.call(org["infra"], "PATCH", "/departments/alpha/policy", {"max_rpm": -1})
    assert bad.status_code == 422
    with django_capture_on_commit_callbacks() as callbacks:
        done = api.call(
            org["infra"],
            "PATCH",
            "/departments/alpha/policy",
            {"max_rpm": 30, "allowed_models": ["gpt-4o-mini"], "monthly_budget": "1500"},
        )
    assert done.status_code == 200, done.content
    assert done.json()["max_rpm"] == 30 and done.json()["allowed_models"] == ["gpt-4o-mini"]
    event = AuditEvent.objects.get(action="department.policy_changed")
    assert event.actor == org["infra"]
    assert (event.before["max_rpm"], event.after["max_rpm"]) == (60, 30)
    assert len(after_commit(callbacks)) == 1  # the new budget is pushed to LiteLLM after commit
    # The new policy applies to the next request at once.
    refused = api.post(org["dev_a"], "/keys", {
        "department": "alpha", "name": "x", "llm_models": ["gpt-4o-mini"], "max_budget": "1",
        "rpm_limit": 60, "tpm_limit": 10, "lifetime_days": 1, "justification": "j",
    })  # fmt: skip
    assert refused.status_code == 422 and "rpm_limit" in refused.json()["errors"]


def test_the_audit_log_is_filtered_and_paginated_for_infra(api, org):
    api.post(org["dev_a"], "/keys", {
        "department": "alpha", "name": "audited", "llm_models": ["gpt-4o-mini"],
        "max_budget": "1", "rpm_limit": 1, "tpm_limit": 10, "lifetime_days": 1,
        "justification": "j",
    })  # fmt: skip
    page = api.get(org["infra"], "/audit?action=virtualkey.&page_size=1").json()
    assert [e["action"] for e in page["results"]] == ["virtualkey.submitted"]
    assert page["results"][0]["actor"] == org["dev_a"].email
    everything = api.get(org["infra"], "/audit?page_size=100").json()["results"]
    assert {"serviceidentity.registered", "virtualkey.submitted"} <= {
        e["action"] for e in everything
    }
