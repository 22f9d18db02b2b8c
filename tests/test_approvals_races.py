"""Stage decisions at the same instant, on the real PostgreSQL: every vote is taken under the
request row's lock, so none is lost or counted twice, and a request is approved once."""

import datetime

import pytest
from django.utils import timezone

from approvals import delegation, engine, workflow
from approvals.lifecycle import Status
from approvals.models import StageDecision
from keys.models import VirtualKey
from portal.models import AuditEvent
from tenants.models import Membership

from .approvals_helpers import LEADS, make_policy, submit_key
from .conftest import make_user
from .test_races import race_copies, race_to_approve

pytestmark = pytest.mark.django_db(transaction=True)
ROUNDS = 4


def approvals_of(key) -> int:
    return AuditEvent.objects.filter(
        object_type="keys.virtualkey", object_id=str(key.pk), action="virtualkey.approved"
    ).count()


def second_lead_and_both_must_approve(org):
    """A second lead of ``a``; the policy's one stage needs both leads."""
    second = make_user("lead_a2")
    Membership.objects.create(user=second, department=org["a"], role="lead")
    make_policy(org["a"], {"name": "Both", "approver": "leads", "quorum": "all"})
    return second


def test_two_approvers_at_once_both_count_and_approve_once(org):
    second = second_lead_and_both_must_approve(org)
    for _ in range(ROUNDS):
        key = submit_key(org)
        results = race_to_approve(key, org["lead_a"], second)
        assert sorted(r for r, _ in results) == ["approved", "voted"]
        assert key.status == Status.APPROVED
        assert StageDecision.objects.filter(stage__object_id=key.pk).count() == 2
        assert approvals_of(key) == 1


def test_one_person_in_two_tabs_votes_once(org):
    second_lead_and_both_must_approve(org)
    for _ in range(ROUNDS):
        key = submit_key(org)
        results = race_to_approve(key, org["lead_a"], org["lead_a"])
        assert [r for r, _ in results].count("voted") == 1
        assert engine.current_stage(key).approvals == 1
        assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_delegate_and_delegator_at_once_count_once(org):
    deputy = make_user("deputy")
    second = make_user("lead_a2")
    Membership.objects.create(user=second, department=org["a"], role="lead")
    today = timezone.localdate()
    delegation.create(
        delegator=org["lead_a"], delegate=deputy, starts_on=today,
        ends_on=today + datetime.timedelta(days=3), actor=org["lead_a"],
    )  # fmt: skip
    make_policy(org["a"], {"name": "Both", "approver": "leads", "quorum": "all"})
    for _ in range(ROUNDS):
        key = submit_key(org)
        race_to_approve(key, org["lead_a"], deputy)
        stage = engine.current_stage(key)
        assert stage.approvals == 1  # lead_a's vote, cast once
        assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED


def test_approve_in_last_stage_races_reject(org):
    make_policy(org["a"], LEADS, {"name": "Infra", "approver": "infra"})
    for _ in range(ROUNDS):
        key = submit_key(org)
        workflow.approve(key, actor=org["lead_a"])
        race_copies(
            key,
            lambda k: workflow.approve(k, actor=org["infra"]),
            lambda k: workflow.cancel(k, actor=org["dev_a"]),
        )
        assert key.status in (Status.APPROVED, Status.CANCELLED)
        if key.status == Status.CANCELLED:
            assert not key.start_provisioning()
            assert engine.current_stage(key) is None
