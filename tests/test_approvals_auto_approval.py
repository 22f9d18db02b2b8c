"""Auto-approval is the policy's first rule, read with the same facts as the stages' conditions:
it stands in for the unconditional route (the leads), never for a stage a condition sends the
request to (premium models, service accounts, budgets over a line, long retention)."""

from decimal import Decimal

import pytest

from approvals import engine
from approvals.lifecycle import Status
from approvals.models import Condition

from .approvals_helpers import LEADS, make_policy, premium_to_infra, submit_key, submit_project
from .factories import ask_budget

pytestmark = pytest.mark.django_db

PREMIUM = premium_to_infra("Premium", "claude-3-5-sonnet")

# One stage per condition the engine knows, and a request (under the USD 20 / 60 days
# auto-approval line) that the condition sends to that stage. Written out by hand.
ROUTED = {
    Condition.PREMIUM_MODEL: (PREMIUM, "key", {"llm_models": ["claude-3-5-sonnet"]}),
    Condition.SERVICE_ACCOUNT: (
        {"name": "Service", "approver": "infra", "condition": "service_account"},
        "key",
        {"kind": "service"},
    ),
    Condition.BUDGET_ABOVE: (
        {
            "name": "Over 5",
            "approver": "infra",
            "condition": "budget_above",
            "threshold": Decimal("5"),
        },
        "key",
        {"max_budget": Decimal("10")},
    ),  # fmt: skip
    Condition.RETENTION_ABOVE: (
        {
            "name": "Retention",
            "approver": "infra",
            "condition": "retention_above",
            "threshold": Decimal("30"),
        },
        "project",
        {"retention_days": 90},
    ),  # fmt: skip
}


@pytest.fixture
def auto_under_20(org):
    org["a"].auto_approve_max_budget = Decimal("20")
    org["a"].auto_approve_max_lifetime_days = 60
    org["a"].save()
    return org


def submit(org, what, fields):
    return submit_key(org, **fields) if what == "key" else submit_project(org, **fields)


def test_a_usd_10_premium_model_key_waits_for_infra(auto_under_20):
    org = auto_under_20
    make_policy(org["a"], PREMIUM)
    key = submit_key(org, max_budget=Decimal("10"), llm_models=["claude-3-5-sonnet"])
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED and not key.auto_approved
    stage = engine.current_stage(key)
    assert stage.name == "Premium" and list(stage.approvers.all()) == [org["infra"]]
    # The same key without the premium model is auto-approved, as before.
    plain = submit_key(org, max_budget=Decimal("10"))
    assert plain.status == Status.APPROVED and plain.auto_approved


@pytest.mark.parametrize("condition", sorted(ROUTED))
def test_auto_approval_never_skips_a_stage_a_condition_routes_to(auto_under_20, condition):
    org = auto_under_20
    stage, what, fields = ROUTED[condition]
    make_policy(org["a"], LEADS, stage)
    obj = submit(org, what, {"lifetime_days": 14, **fields})
    obj.refresh_from_db()
    assert obj.status == Status.SUBMITTED and not obj.auto_approved
    assert [s.name for s in engine.stages_for(obj)] == ["Lead", stage["name"]]


def test_every_condition_of_the_engine_is_covered_here():
    assert set(ROUTED) | {Condition.ALWAYS} == set(Condition)


def test_the_unconditional_route_is_what_auto_approval_stands_in_for(auto_under_20):
    org = auto_under_20
    make_policy(org["a"], LEADS, *(stage for stage, _, _ in ROUTED.values()))
    key = submit_key(org, max_budget=Decimal("3"), lifetime_days=14)
    assert key.status == Status.APPROVED and key.auto_approved
    assert not engine.is_staged(key)
    # Over the line: the stages as before.
    big = submit_key(org, max_budget=Decimal("3"), lifetime_days=90)
    assert big.status == Status.SUBMITTED and engine.is_staged(big)


def test_tuning_projects_and_budget_requests_are_never_auto_approved(auto_under_20):
    org = auto_under_20
    make_policy(org["a"], LEADS)
    project = submit_project(org, retention_days=7, lifetime_days=7)
    assert project.status == Status.SUBMITTED and engine.is_staged(project)
    budget = ask_budget(org, "10", "less")
    assert budget.status == Status.SUBMITTED and not budget.auto_approved
