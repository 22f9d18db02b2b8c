"""Approval stages: routing by condition, quorum, per-stage decisions, the hand-over to the
request's own approve/reject path, and the rules that hold in every stage."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from approvals import engine, workflow
from approvals.lifecycle import Status
from approvals.models import PolicyVersion, RequestStage, StageDecision
from keys.models import VirtualKey
from portal.models import AuditEvent
from tenants import directory
from tenants.models import Membership, User

from . import test_directory
from .approvals_helpers import (
    INFRA_OVER_50,
    LEADS,
    assert_infra_decides_for,
    make_policy,
    premium_to_infra,
    submit_key,
    submit_project,
)
from .conftest import make_user
from .factories import after_commit, ask_budget
from .test_directory import mirror_org

# The directory tests' doubles (Entra ID, Graph) and a real GraphClient on them.
entra, graph, graph_client = test_directory.entra, test_directory.graph, test_directory.graph_client
sleeps, infra_group = test_directory.sleeps, test_directory.infra_group

pytestmark = pytest.mark.django_db


def names(obj):
    return [(s.name, s.state) for s in engine.stages_for(obj)]


def test_without_a_policy_the_leads_decide_alone_as_before(org):
    key = submit_key(org)
    assert not engine.is_staged(key)
    assert VirtualKey.objects.pending_for(org["lead_a"]).filter(pk=key.pk).exists()
    workflow.approve(key, actor=org["lead_a"])
    assert key.status == Status.APPROVED


def test_stage_routing_by_budget_condition(org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    small = submit_key(org, max_budget=Decimal("10"))
    large = submit_key(org, max_budget=Decimal("80"))
    assert names(small) == [("Lead", "active")]
    assert names(large) == [("Lead", "active"), ("Infra", "waiting")]


def test_premium_model_service_account_and_retention_conditions(org):
    make_policy(
        org["a"],
        LEADS,
        premium_to_infra("Premium", "claude-3-5-sonnet"),
        {"name": "Service", "approver": "infra", "condition": "service_account"},
        {"name": "Retention", "approver": "infra", "condition": "retention_above",
         "threshold": Decimal("30")},
    )  # fmt: skip
    plain = submit_key(org)
    premium = submit_key(org, llm_models=["gpt-4o-mini", "claude-3-5-sonnet"])
    service = submit_key(org, kind="service")
    short = submit_project(org, retention_days=7)
    long = submit_project(org, retention_days=90)
    assert [n for n, _ in names(plain)] == ["Lead"]
    assert [n for n, _ in names(premium)] == ["Lead", "Premium"]
    assert [n for n, _ in names(service)] == ["Lead", "Service"]
    assert [n for n, _ in names(short)] == ["Lead"]
    assert [n for n, _ in names(long)] == ["Lead", "Retention"]


def test_auto_approval_stays_the_first_rule(org):
    org["a"].auto_approve_max_budget = Decimal("20")
    org["a"].auto_approve_max_lifetime_days = 60
    org["a"].save()
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("10"))
    assert key.status == Status.APPROVED and key.auto_approved
    assert not engine.is_staged(key)


def test_lead_then_infra_then_approved_and_provisioning_enqueued(
    org, django_capture_on_commit_callbacks
):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    # Infra is not an approver of the lead stage: stages are not skipped.
    assert not key.can_decide(org["infra"])
    assert not VirtualKey.objects.pending_for(org["infra"]).filter(pk=key.pk).exists()
    assert workflow.approve(key, actor=org["lead_a"], comment="ok") == "next-stage"
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED
    assert names(key) == [("Lead", "approved"), ("Infra", "active")]
    assert not key.can_decide(org["lead_a"])
    assert VirtualKey.objects.pending_for(org["infra"]).filter(pk=key.pk).exists()
    with django_capture_on_commit_callbacks() as callbacks:
        assert workflow.approve(key, actor=org["infra"]) == "approved"
    key.refresh_from_db()
    assert key.status == Status.APPROVED and key.decided_by == org["infra"]
    assert names(key) == [("Lead", "approved"), ("Infra", "approved")]
    assert after_commit(callbacks)  # provisioning (and mails) only after commit
    actions = list(
        AuditEvent.objects.filter(object_id=str(key.pk), object_type="keys.virtualkey")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions.count("requeststage.voted") == 2
    assert "virtualkey.approved" in actions


def test_a_rejection_in_any_stage_rejects_the_request(org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    workflow.approve(key, actor=org["lead_a"])
    with pytest.raises(ValidationError):
        workflow.reject(key, actor=org["infra"], comment="")  # a reason is required
    assert workflow.reject(key, actor=org["infra"], comment="too much") == "rejected"
    key.refresh_from_db()
    assert key.status == Status.REJECTED
    assert names(key) == [("Lead", "approved"), ("Infra", "rejected")]


def test_quorum_all_and_n(org):
    extra = [make_user(f"lead{i}") for i in range(2)]
    for user in extra:
        Membership.objects.create(user=user, department=org["a"], role="lead")
    make_policy(org["a"], {"name": "All leads", "approver": "leads", "quorum": "all"})
    key = submit_key(org)
    stage = engine.current_stage(key)
    assert stage.required == 3
    assert workflow.approve(key, actor=org["lead_a"]) == "voted"
    assert workflow.approve(key, actor=extra[0]) == "voted"
    with pytest.raises(PermissionDenied):  # one vote per person
        workflow.approve(key, actor=org["lead_a"])
    assert workflow.approve(key, actor=extra[1]) == "approved"

    make_policy(org["a"], {"name": "Two leads", "approver": "leads", "quorum": "n", "quorum_n": 2})
    key = submit_key(org)
    assert engine.current_stage(key).required == 2
    assert workflow.approve(key, actor=extra[0]) == "voted"
    assert workflow.approve(key, actor=extra[1]) == "approved"


def test_nobody_decides_their_own_request_in_any_stage(org):
    make_policy(org["a"], LEADS)
    key = submit_key(org, requester="lead_a")
    assert_infra_decides_for(org, key, "lead_a")  # the only lead asked
    assert not VirtualKey.objects.pending_for(org["lead_a"]).filter(pk=key.pk).exists()


def test_named_person_and_entra_group_approvers(org, entra, graph_client):
    """The group's members come from the directory sync (Graph's transitiveMembers), as in
    production, never from a hand-set ``entra_groups``."""
    mirror_org(entra, org)
    entra.add_user("oid-sec", "sec@example.com", "Sec", ["grp-security"])
    make_policy(
        org["a"],
        {"name": "Security", "approver": "group", "group_id": "grp-security"},
        {"name": "Owner", "approver": "person", "person": org["lead_b"]},
    )
    assert directory.sync(graph_client).status == "ok"
    security = User.objects.get(entra_oid="oid-sec")
    key = submit_key(org)
    assert [u.email for u in engine.current_stage(key).approvers.all()] == ["sec@example.com"]
    assert not key.can_decide(org["lead_a"])
    assert workflow.approve(key, actor=security) == "next-stage"
    assert workflow.approve(key, actor=org["lead_b"]) == "approved"


def test_a_decided_request_takes_no_more_votes(org):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    workflow.approve(key, actor=org["lead_a"])
    with pytest.raises(ValidationError):
        workflow.approve(VirtualKey.objects.get(pk=key.pk), actor=org["infra"])
    assert StageDecision.objects.filter(stage__object_id=key.pk).count() == 1


def test_cancel_closes_open_stages(org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    workflow.cancel(key, actor=org["dev_a"])
    assert names(key) == [("Lead", "cancelled"), ("Infra", "cancelled")]


def test_policy_edits_are_versioned_and_audited_and_do_not_move_requests_in_flight(org):
    policy = make_policy(org["a"], LEADS, actor=org["infra"])
    key = submit_key(org)
    make_policy(org["a"], LEADS, INFRA_OVER_50, actor=org["infra"])
    policy.refresh_from_db()
    assert policy.version == 2
    assert list(PolicyVersion.objects.filter(policy=policy).values_list("version", flat=True)) == [
        2,
        1,
    ]
    event = AuditEvent.objects.filter(action="policy.changed").latest("pk")
    assert len(event.before["stages"]) == 1 and len(event.after["stages"]) == 2
    assert RequestStage.objects.get(object_id=key.pk).policy_version == 1


def test_budget_requests_use_the_same_stages(org):
    from costs.models import BudgetRequest

    make_policy(org["a"], {"name": "Finance", "approver": "person", "person": org["lead_b"]},
                {"name": "Infra", "approver": "infra"})  # fmt: skip
    budget = ask_budget(org, "5000", "growth")
    assert engine.is_staged(budget)
    assert BudgetRequest.objects.pending_for(org["lead_b"]).filter(pk=budget.pk).exists()
    assert workflow.approve(budget, actor=org["lead_b"]) == "next-stage"
    assert workflow.approve(budget, actor=org["infra"]) == "approved"
    budget.refresh_from_db()
    assert budget.status == Status.APPROVED


def test_what_an_earlier_stage_lowered_is_applied_at_the_final_approval(org):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"), rpm_limit=50)
    workflow.approve(key, actor=org["lead_a"], max_budget=Decimal("60"), rpm_limit=40)
    key.refresh_from_db()
    assert key.max_budget == Decimal("80")  # nothing changes before the last stage
    workflow.approve(key, actor=org["infra"], max_budget=Decimal("70"), rpm_limit=None)
    key.refresh_from_db()
    assert key.status == Status.APPROVED
    assert (key.max_budget, key.rpm_limit) == (Decimal("60"), 40)  # the lowest of each


def test_a_named_approver_from_another_department_can_open_the_decision_page(org, client):

    make_policy(org["a"], {"name": "Finance", "approver": "person", "person": org["lead_b"]})
    budget = ask_budget(org, "5000", "growth")
    client.force_login(org["lead_b"])
    assert client.get(f"/approvals/budgets/{budget.pk}/").status_code == 200
    client.force_login(org["dev_b"])
    assert client.get(f"/approvals/budgets/{budget.pk}/").status_code == 404


def test_an_approver_who_is_no_longer_a_lead_cannot_decide_their_stage(org):
    second = make_user("lead_a2")
    Membership.objects.create(user=second, department=org["a"], role="lead")
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    assert key.can_decide(second)
    Membership.objects.filter(user=second).update(role="member")
    assert not key.can_decide(second)
    with pytest.raises(PermissionDenied):
        workflow.approve(key, actor=second)
    assert workflow.approve(key, actor=org["lead_a"]) == "approved"
