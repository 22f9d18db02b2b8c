"""Building blocks for the approval tests: a policy with stages, and a submitted request."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from approvals import engine, policies, workflow
from approvals.models import Policy, PolicyStage
from keys.models import VirtualKey
from projects.models import TuningProject


def make_policy(department, *stages: dict, actor=None) -> Policy:
    policy, _ = Policy.objects.get_or_create(department=department)
    policy.stages.all().delete()
    for position, stage in enumerate(stages, start=1):
        PolicyStage.objects.create(policy=policy, position=position, **stage)
    policies.record_version(policy, actor=actor)
    policy.refresh_from_db()
    return policy


LEADS = {"name": "Lead", "approver": "leads"}
INFRA_OVER_50 = {
    "name": "Infra",
    "approver": "infra",
    "condition": "budget_above",
    "threshold": Decimal("50"),
}


def premium_to_infra(name: str, *models: str) -> dict:
    """A stage: infra decides requests for any of ``models`` (the policy's premium set)."""
    return {
        "name": name,
        "approver": "infra",
        "condition": "premium_model",
        "premium_models": list(models),
    }


def submit_key(org, requester="dev_a", department="a", **extra) -> VirtualKey:
    fields = {
        "requester": org[requester],
        "department": org[department],
        "name": "bot",
        "llm_models": ["gpt-4o-mini"],
        "max_budget": Decimal("10"),
        "rpm_limit": 50,
        "tpm_limit": 100000,
        "lifetime_days": 30,
        "justification": "because",
        **extra,
    }
    return workflow.submit(VirtualKey(**fields))


def submit_project(org, **extra) -> TuningProject:
    fields = {
        "requester": org["dev_a"],
        "department": org["a"],
        "name": "eval",
        "purpose": "evals",
        "lifetime_days": 14,
        "justification": "because",
        **extra,
    }
    return workflow.submit(TuningProject(**fields))


def assert_infra_decides_for(org, obj, requester: str) -> None:
    """``requester`` is the only lead who would decide ``obj``: the stage falls back to
    infra, and the requester can neither see a button nor approve."""
    stage = engine.current_stage(obj)
    assert list(stage.approvers.all()) == [org["infra"]]
    assert not obj.can_decide(org[requester])
    with pytest.raises(PermissionDenied):
        workflow.approve(obj, actor=org[requester])
