"""Model access requests released together by a barrier, on the real PostgreSQL and the real
LiteLLM proxy: one decision per request, and two changes applied at once both land."""

from __future__ import annotations

from decimal import Decimal

import pytest

from approvals import workflow
from approvals.lifecycle import Status
from catalogue import services as catalogue
from modelaccess import actions
from modelaccess.models import ModelAccessRequest

from .conftest import make_user
from .test_modelaccess import team_models
from .test_races import ROUNDS, copies, decisions, race, race_to_approve

pytestmark = pytest.mark.django_db(transaction=True)


def ask(org, model: str, change: str = "add") -> ModelAccessRequest:
    obj = ModelAccessRequest(
        requester=org["dev_a"],
        department=org["a"],
        model_name=model,
        change=change,
        expected_monthly_spend=Decimal("10"),
        justification="race",
    )
    return actions.request_change(obj)


def test_two_infra_approving_at_once_make_one_decision(org):
    other = make_user("infra2", infra=True)
    for _ in range(ROUNDS):
        obj = ask(org, "gpt-4o")
        results = race_to_approve(obj, org["infra"], other)
        assert decisions(obj) == ["modelaccessrequest.approved"]
        assert sum(exc is None for _, exc in results) == 1
        ModelAccessRequest.objects.filter(pk=obj.pk).update(status=Status.CANCELLED)


def test_approve_races_cancel(org):
    for _ in range(ROUNDS):
        obj = ask(org, "gpt-4o")
        infra_copy, dev_copy = copies(obj)
        race(
            lambda o=infra_copy: workflow.approve(o, actor=org["infra"]),
            lambda o=dev_copy: workflow.cancel(o, actor=org["dev_a"]),
        )
        obj.refresh_from_db()
        assert obj.status in (Status.APPROVED, Status.CANCELLED)
        assert len(decisions(obj)) == 1, decisions(obj)
        if obj.status == Status.CANCELLED:
            assert not obj.start_provisioning()  # a cancelled request never changes models
        ModelAccessRequest.objects.filter(pk=obj.pk).update(status=Status.REJECTED)


@pytest.mark.litellm
def test_two_changes_applied_at_once_both_reach_the_department_and_the_team(org, litellm):
    catalogue.refresh()
    dept = org["a"]
    first, second = ask(org, "gpt-4o"), ask(org, "gemini-1.5-flash")
    for obj in (first, second):
        workflow.approve(obj, actor=org["infra"])
    race(lambda: actions.apply(first.pk), lambda: actions.apply(second.pk))
    dept.refresh_from_db()
    everything = ["claude-3-5-sonnet", "gemini-1.5-flash", "gpt-4o", "gpt-4o-mini"]
    assert dept.allowed_models == everything
    assert team_models(litellm) == everything
    for obj in (first, second):
        obj.refresh_from_db()
        assert obj.status == Status.ACTIVE, obj.last_error
