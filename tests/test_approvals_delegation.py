"""Delegation: the delegate sees and decides the queue for the dates given, visibly and
audited; never to oneself, no chains, and nobody decides their own request through one."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from approvals import delegation, engine, workflow
from approvals.lifecycle import Status
from approvals.models import StageDecision
from keys.models import VirtualKey
from portal.models import AuditEvent
from tenants.models import Membership

from .approvals_helpers import LEADS, make_policy, submit_key
from .conftest import make_user

pytestmark = pytest.mark.django_db


def days(n):
    return timezone.localdate() + datetime.timedelta(days=n)


def delegate(frm, to, start=0, end=5, actor=None):
    return delegation.create(
        delegator=frm, delegate=to, starts_on=days(start), ends_on=days(end), actor=actor or frm
    )


@pytest.mark.parametrize("staged", [True, False])
def test_delegate_sees_and_decides_for_the_away_approver(org, staged):
    if staged:
        make_policy(org["a"], LEADS)
    deputy = make_user("deputy")
    key = submit_key(org)
    assert not key.can_decide(deputy)
    delegate(org["lead_a"], deputy)
    assert VirtualKey.objects.pending_for(deputy).filter(pk=key.pk).exists()
    assert key.can_decide(deputy)
    workflow.approve(key, actor=deputy)
    key.refresh_from_db()
    assert key.status == Status.APPROVED and key.decided_by == deputy
    if not staged:
        event = AuditEvent.objects.get(action="delegation.used", object_id=str(key.pk))
        assert event.after["on_behalf_of"] == ["lead_a@example.com"] and event.actor == deputy
    if staged:
        vote = StageDecision.objects.get(stage__object_id=key.pk)
        assert (vote.actor, vote.counted_for) == (deputy, org["lead_a"])
        event = AuditEvent.objects.get(action="requeststage.voted", object_id=str(key.pk))
        assert event.after["on_behalf_of"] == "lead_a@example.com"
    assert AuditEvent.objects.filter(action="delegation.created").count() == 1


def test_delegation_only_counts_within_its_dates_and_until_ended(org):
    make_policy(org["a"], LEADS)
    deputy = make_user("deputy")
    key = submit_key(org)
    future = delegate(org["lead_a"], deputy, start=2, end=4)
    assert not key.can_decide(deputy)
    assert delegation.delegators_of(deputy, today=days(3)) == [org["lead_a"]]
    delegation.end(future, actor=org["lead_a"])
    assert delegation.delegators_of(deputy, today=days(3)) == []
    assert AuditEvent.objects.filter(action="delegation.ended").count() == 1


def test_never_to_oneself(org):
    with pytest.raises(ValidationError):
        delegate(org["lead_a"], org["lead_a"])


def test_no_chains_and_no_cycles(org):
    x, y, z = make_user("x"), make_user("y"), make_user("z")
    delegate(x, y)
    with pytest.raises(ValidationError, match="chained"):
        delegate(z, x)  # x is away: z → x → y would be a chain
    with pytest.raises(ValidationError, match="covering"):
        delegate(y, z)  # y covers for x: cannot hand that on
    with pytest.raises(ValidationError):
        delegate(y, x)  # the cycle x ↔ y
    delegate(z, x, start=10, end=12)  # after x is back: allowed


def test_only_oneself_or_infra_names_ones_delegate(org):
    with pytest.raises(PermissionDenied):
        delegate(org["lead_a"], org["dev_b"], actor=org["dev_a"])


def test_a_delegation_to_the_requester_never_decides_their_own_request(org):
    """The lead delegates to the developer, who then asks for a key: the developer sees the
    department's other requests, never their own."""
    make_policy(org["a"], LEADS)
    delegate(org["lead_a"], org["dev_a"])
    own = submit_key(org)
    colleague = make_user("colleague")
    Membership.objects.create(user=colleague, department=org["a"])
    other = submit_key({**org, "colleague": colleague}, requester="colleague")
    assert not own.can_decide(org["dev_a"])
    with pytest.raises(PermissionDenied):
        workflow.approve(own, actor=org["dev_a"])
    pending = VirtualKey.objects.pending_for(org["dev_a"])
    assert list(pending.values_list("pk", flat=True)) == [other.pk]


def test_a_requester_who_delegates_does_not_get_their_request_approved_for_them(org):
    """A lead asks for a key and delegates to a deputy: the deputy must not approve the
    lead's request on the lead's behalf (unstaged and staged)."""
    deputy = make_user("deputy")
    delegate(org["lead_a"], deputy)
    legacy = submit_key(org, requester="lead_a")
    assert not legacy.can_decide(deputy)
    assert not VirtualKey.objects.pending_for(deputy).filter(pk=legacy.pk).exists()
    make_policy(org["a"], LEADS)
    staged = submit_key(org, requester="lead_a")
    assert not staged.can_decide(deputy)
    assert org["lead_a"] not in engine.current_stage(staged).approvers.all()


def test_delegate_who_is_an_approver_too_votes_once(org):
    second = make_user("lead_a2")
    Membership.objects.create(user=second, department=org["a"], role="lead")
    make_policy(org["a"], {"name": "All", "approver": "leads", "quorum": "all"})
    delegate(org["lead_a"], second)
    key = submit_key(org)
    assert workflow.approve(key, actor=second) == "voted"  # as themselves
    with pytest.raises(PermissionDenied):
        workflow.approve(key, actor=second)  # not a second time for lead_a
    assert workflow.approve(key, actor=org["lead_a"]) == "approved"
