"""Stages need distinct people: whoever voted in an earlier stage of a request, or stood in for
someone there, is not counted in a later stage, on every path (web, API, bulk inbox, Slack).
A policy may switch this off explicitly; the switch is a new, audited policy version."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from approvals import delegation, engine, policies, workflow
from approvals.lifecycle import Status
from approvals.models import Policy, StageDecision
from keys.models import VirtualKey
from portal.models import AuditEvent
from tenants.models import Membership

from .approvals_helpers import LEADS, make_policy, submit_key
from .conftest import make_user

pytestmark = pytest.mark.django_db

INFRA = {"name": "Infra", "approver": "infra"}


@pytest.fixture
def boss(org):
    """A lead of alpha who is also infra: an approver of both stages of Lead → Infra."""
    user = make_user("boss", infra=True)
    Membership.objects.create(user=user, department=org["a"], role="lead")
    return user


def waiting_for(user, key) -> bool:
    return VirtualKey.objects.pending_for(user).filter(pk=key.pk).exists()


def test_who_approved_stage_one_is_not_counted_in_stage_two(org, boss):
    make_policy(org["a"], LEADS, INFRA)
    key = submit_key(org)
    assert workflow.approve(key, actor=boss) == "next-stage"
    stage = engine.current_stage(key)
    assert stage.name == "Infra"
    assert boss not in stage.approvers.all()  # left out when the stage started
    assert not key.can_decide(boss) and not waiting_for(boss, key)
    with pytest.raises(PermissionDenied):
        workflow.approve(key, actor=boss)
    assert workflow.approve(key, actor=org["infra"]) == "approved"
    key.refresh_from_db()
    assert key.status == Status.APPROVED
    voters = StageDecision.objects.filter(stage__object_id=key.pk).values_list("actor", flat=True)
    assert sorted(voters) == sorted([boss.pk, org["infra"].pk])


def test_a_stand_in_in_stage_one_is_not_counted_in_stage_two(org):
    """lead_a is away and delegated to deputy, who is infra: deputy casts lead_a's vote in the
    lead stage and may not then approve the infra stage as well."""
    deputy = make_user("deputy", infra=True)
    make_policy(org["a"], LEADS, INFRA)
    key = submit_key(org)
    today = timezone.localdate()
    delegation.create(delegator=org["lead_a"], delegate=deputy, starts_on=today,
                      ends_on=today + datetime.timedelta(days=3), actor=org["lead_a"])  # fmt: skip
    assert workflow.approve(key, actor=deputy) == "next-stage"
    vote = StageDecision.objects.get(stage__object_id=key.pk)
    assert (vote.actor, vote.counted_for) == (deputy, org["lead_a"])
    assert not key.can_decide(deputy) and not waiting_for(deputy, key)
    with pytest.raises(PermissionDenied):
        workflow.approve(key, actor=deputy)
    assert workflow.approve(key, actor=org["infra"]) == "approved"


def test_whose_vote_a_delegate_cast_is_not_counted_again_later(org):
    """A delegate cast lead_a's vote in stage one; lead_a, also named in stage two, is back:
    their vote was counted once already."""
    deputy = make_user("deputy")
    make_policy(org["a"], LEADS, {"name": "Owner", "approver": "person", "person": org["lead_a"],
                                  "fallback": org["lead_b"]})  # fmt: skip
    key = submit_key(org)
    today = timezone.localdate()
    delegation.create(delegator=org["lead_a"], delegate=deputy, starts_on=today,
                      ends_on=today, actor=org["lead_a"])  # fmt: skip
    assert workflow.approve(key, actor=deputy) == "next-stage"
    stage = engine.current_stage(key)
    # Nobody else is named: the stage's fallback decides, never lead_a again.
    assert list(stage.approvers.all()) == [org["lead_b"]]
    with pytest.raises(PermissionDenied):
        workflow.approve(key, actor=org["lead_a"])
    assert workflow.approve(key, actor=org["lead_b"]) == "approved"


def test_the_bulk_inbox_applies_the_rule(org, boss, client):
    make_policy(org["a"], LEADS, INFRA)
    key = submit_key(org)
    workflow.approve(key, actor=boss)
    client.force_login(boss)
    response = client.post(
        "/approvals/bulk/",
        {"decision": "approve", "comment": "", "items": [f"keys.virtualkey:{key.pk}"]},
        follow=True,
    )
    assert "not yours to decide" in response.content.decode()
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED


def test_a_policy_may_switch_it_off_and_the_switch_is_audited(org, boss):
    policy = make_policy(org["a"], LEADS, INFRA, actor=org["infra"])
    assert policy.distinct_approvers  # the default
    Policy.objects.filter(pk=policy.pk).update(distinct_approvers=False)
    version = policies.record_version(policy, actor=org["infra"])
    assert version is not None and version.version == 2 and version.distinct_approvers is False
    event = AuditEvent.objects.filter(action="policy.changed").latest("pk")
    assert event.actor == org["infra"]
    assert event.before["distinct_approvers"] is True
    assert event.after["distinct_approvers"] is False

    key = submit_key(org)
    assert workflow.approve(key, actor=boss) == "next-stage"
    assert key.can_decide(boss) and waiting_for(boss, key)
    assert workflow.approve(key, actor=boss) == "approved"
    # Requests in flight keep the rule they were submitted under: switched on again, the
    # request above was decided; a new one needs two people.
    Policy.objects.filter(pk=policy.pk).update(distinct_approvers=True)
    policies.record_version(policy, actor=org["infra"])
    again = submit_key(org)
    workflow.approve(again, actor=boss)
    assert not again.can_decide(boss)
