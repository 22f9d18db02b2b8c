"""What waits for whose decision (``approvals.waiting``): its rows follow every change in the
change's own transaction, a rebuild (each ``migrate``) writes the same rows, and the count and
the queue read them in a fixed number of queries, for every kind of approver."""

import datetime
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import delegation, engine, pending, sla, waiting, workflow
from approvals.models import PendingDecision
from portal import context_processors
from tenants.models import Membership

from .approvals_helpers import INFRA_OVER_50, LEADS, make_policy, submit_key, submit_project
from .factories import make_budget_request

pytestmark = pytest.mark.django_db

BOTH_LEADS = {"name": "Both leads", "approver": "leads", "quorum": "all"}


def deciders(obj) -> set:
    """Who each of ``obj``'s rows names (None: decided by the kind's rule, without stages)."""
    ct = ContentType.objects.get_for_model(type(obj))
    rows = PendingDecision.objects.filter(content_type=ct, object_id=obj.pk)
    return set(rows.values_list("decider", flat=True))


def every_row() -> list:
    return sorted(
        PendingDecision.objects.values_list(
            "content_type", "object_id", "department", "requester", "approver", "decider",
            "stage", "created_at",
        )
    )  # fmt: skip


def second_lead(org):
    """``nobody`` becomes department a's second lead."""
    Membership.objects.create(user=org["nobody"], department=org["a"], role="lead")
    return org["nobody"]


def away(org, delegator, delegate) -> None:
    today = timezone.localdate()
    delegation.create(
        delegator=org[delegator], delegate=org[delegate], starts_on=today,
        ends_on=today + datetime.timedelta(days=3), actor=org[delegator],
    )  # fmt: skip


def test_a_request_without_stages_waits_in_one_row_until_it_is_decided(org):
    key = submit_key(org)
    assert deciders(key) == {None}
    workflow.approve(key, actor=org["lead_a"])
    assert deciders(key) == set()


def test_each_approver_waits_until_they_vote_and_the_next_stage_takes_over(org):
    nobody = second_lead(org)
    make_policy(org["a"], BOTH_LEADS, INFRA_OVER_50)
    key = submit_key(org, max_budget=Decimal("80"))
    assert deciders(key) == {org["lead_a"].pk, nobody.pk}
    assert workflow.approve(key, actor=org["lead_a"]) == "voted"
    assert deciders(key) == {nobody.pk}  # the voter's row goes, the other approver's stays
    assert workflow.approve(key, actor=nobody) == "next-stage"
    assert deciders(key) == {org["infra"].pk}
    assert workflow.approve(key, actor=org["infra"]) == "approved"
    assert deciders(key) == set()


def test_a_delegate_s_vote_takes_the_row_of_whom_it_counts_for(org):
    nobody = second_lead(org)
    make_policy(org["a"], BOTH_LEADS)
    key = submit_key(org)
    away(org, "lead_a", "lead_b")
    assert key in pending.first(org["lead_b"], 5)  # what waits for lead_a waits for them
    workflow.approve(key, actor=org["lead_b"])
    assert deciders(key) == {nobody.pk}
    assert key not in pending.first(org["lead_b"], 5)


def test_a_rejection_a_cancellation_and_a_deletion_leave_no_row(org):
    make_policy(org["a"], LEADS)
    rejected, cancelled, deleted = (submit_key(org, name=n) for n in ("r", "c", "d"))
    workflow.reject(rejected, actor=org["lead_a"], comment="no")
    workflow.cancel(cancelled, actor=org["dev_a"])
    pk = deleted.pk
    deleted.delete()
    assert not PendingDecision.objects.filter(object_id__in=[rejected.pk, cancelled.pk, pk])


def test_an_escalation_adds_the_fallback_s_row(org):
    make_policy(org["a"], {**LEADS, "escalate_hours": 1})
    key = submit_key(org)
    assert sla.escalate(engine.current_stage(key), timezone.now()) == 1
    assert deciders(key) == {org["lead_a"].pk, org["infra"].pk}


def test_a_rebuild_writes_the_rows_the_changes_wrote_and_every_migrate_rebuilds(org):
    nobody = second_lead(org)
    make_policy(org["b"], BOTH_LEADS)
    submit_key(org, requester="dev_b", department="b", name="staged")
    submit_key(org, name="unstaged")
    submit_project(org)
    make_budget_request(org)
    workflow.reject(submit_key(org, name="gone"), actor=org["lead_a"], comment="no")
    make_policy(org["a"], BOTH_LEADS, INFRA_OVER_50)
    workflow.approve(submit_key(org, name="half", max_budget=Decimal("80")), actor=nobody)
    written = every_row()
    assert len(written) == 5  # b's lead; three without stages; a's other lead; none for "gone"
    waiting.rebuild()
    assert every_row() == written
    PendingDecision.objects.all().delete()
    call_command("migrate", verbosity=0)  # nothing to apply: the rows are written again
    assert every_row() == written


def primed(user):
    """``user`` as a request sees them after the navigation's reads (memberships, delegations,
    the cache version), so what is counted below is the count's own queries."""
    user.memberships_once()
    context_processors.version_for(user)
    for person in [user, *delegation.delegators_of(user)]:
        person.memberships_once()
    return user


def test_the_navigation_s_count_is_one_query_whatever_the_kinds(org, django_assert_num_queries):
    make_policy(org["b"], {"name": "Infra", "approver": "infra"})
    submit_key(org, requester="dev_b", department="b")  # a stage for infra
    submit_key(org)  # no stage: department a's leads, and infra
    submit_project(org)
    make_budget_request(org)  # infra's alone
    away(org, "lead_a", "lead_b")
    for name, expected in (("infra", 4), ("lead_a", 2), ("lead_b", 2)):
        user = primed(org[name])
        with django_assert_num_queries(1):
            assert pending.nav_count(user) == expected, name


APPROVER_KINDS = {
    "lead": ({"name": "Lead", "approver": "leads"}, "lead_a"),
    "infra": ({"name": "Infra", "approver": "infra"}, "infra"),
    "named person": ({"name": "Finance", "approver": "person"}, "nobody"),
    "delegate": ({"name": "Lead", "approver": "leads"}, "lead_b"),  # lead_a is away
}


@pytest.mark.parametrize("kind", APPROVER_KINDS)
def test_the_queue_page_reads_as_many_queries_at_5_and_at_40_waiting(
    kind, client, org, django_assert_max_num_queries
):
    stage, viewer = APPROVER_KINDS[kind]
    if kind == "named person":
        stage = {**stage, "person": org["nobody"]}
    make_policy(org["a"], stage)
    if kind == "delegate":
        away(org, "lead_a", "lead_b")
    for i in range(5):
        submit_key(org, name=f"k{i}")
    client.force_login(org[viewer])

    def uncached(bound):
        cache.clear()  # the rows are read, not taken from the page cache
        client.get("/")  # the session and the navigation, as on any page
        cache.clear()
        with bound as captured:
            html = client.get("/approvals/").content.decode()
        return len(captured), html

    at_5, html = uncached(CaptureQueriesContext(connection))
    assert html.count('name="items"') == 5
    for i in range(5, 40):
        submit_key(org, name=f"k{i}")
    # The session, the user, memberships, delegations (and whom for, and their memberships),
    # departments for the filter, the count, the page, its keys, stages, approvers, votes.
    at_40, html = uncached(django_assert_max_num_queries(13))
    assert html.count('name="items"') == 25  # one page of 40
    assert at_40 == at_5
