"""Entra-group approvers across the directory sync: the sync reads the transitive members of
every group a policy (or a request in flight) names, through the Graph double (real msal,
real httpx, paged ``transitiveMembers``), and keeps those memberships; so a stage whose
approvers are a group finds them after the hourly sync, nested members count, and someone
removed from the group stops counting."""

from __future__ import annotations

import pytest

from approvals import engine, workflow
from approvals.lifecycle import Status
from tenants import directory
from tenants.models import SyncRun, User

from . import test_directory
from .approvals_helpers import LEADS, make_policy, submit_key
from .doubles.entra import sign_in
from .test_directory import mirror_org

# The directory tests' fixtures: the Entra and Graph doubles and a real GraphClient on them.
entra, graph, graph_client = test_directory.entra, test_directory.graph, test_directory.graph_client
graph_settings, sleeps = test_directory.graph_settings, test_directory.sleeps
infra_group = test_directory.infra_group

pytestmark = pytest.mark.django_db

BOARD = "grp-governance-board"
ONCALL = "grp-governance-oncall"  # nested in the board
SECURITY = {"name": "Board", "approver": "group", "group_id": BOARD}


@pytest.fixture
def board(org, entra, graph):
    """lead_b sits on the board directly, Sato through the nested on-call group; the board
    also holds an application (a service principal), as real groups do. Small pages, so the
    sync follows ``@odata.nextLink``."""
    mirror_org(entra, org)
    entra.users["oid-lead_b"].groups.append(BOARD)
    graph.nest_group(ONCALL, BOARD)
    entra.add_user("oid-sato", "sato@example.com", "Sato", [ONCALL])
    graph.add_member_object(BOARD, "#microsoft.graph.servicePrincipal", "sp-board-bot")
    graph.page_size = 2
    return entra


def approver_emails(key) -> list[str]:
    return sorted(u.email for u in engine.current_stage(key).approvers.all())


def test_a_group_stage_finds_its_members_after_the_sync(org, board, graph, graph_client):
    make_policy(org["a"], LEADS, SECURITY)
    run = directory.sync(graph_client)
    assert run.status == SyncRun.Status.OK, run.error
    # Read with paging: at least one transitiveMembers call for the board followed a nextLink.
    board_calls = [p for m, p in graph.requests if f"/groups/{BOARD}/transitiveMembers" in p]
    assert any("skiptoken" in p for p in board_calls)
    sato = User.objects.get(entra_oid="oid-sato")  # known before signing in: a pending user
    assert (
        BOARD in sato.entra_groups and BOARD in User.objects.get(pk=org["lead_b"].pk).entra_groups
    )
    assert not User.objects.filter(entra_oid="sp-board-bot").exists()  # not a person

    key = submit_key(org)
    assert workflow.approve(key, actor=org["lead_a"]) == "next-stage"
    assert approver_emails(key) == ["lead_b@example.com", "sato@example.com"]
    assert workflow.approve(key, actor=sato) == "approved"  # the nested member counts


def test_a_signed_in_approver_keeps_the_group_through_the_hourly_sync(
    org, board, graph_client, graph_settings, client
):
    """lead_b signs in (the token's groups claim names the board), then the sync runs: the
    board membership is still there, so the stage does not fall back to infra."""
    make_policy(org["a"], SECURITY)
    assert sign_in(client, board, "oid-lead_b").status_code == 302
    assert BOARD in User.objects.get(pk=org["lead_b"].pk).entra_groups
    assert directory.sync(graph_client).status == SyncRun.Status.OK
    assert BOARD in User.objects.get(pk=org["lead_b"].pk).entra_groups
    key = submit_key(org)
    assert "lead_b@example.com" in approver_emails(key)
    assert "infra@example.com" not in approver_emails(key)


def test_someone_removed_from_the_group_stops_counting(org, board, graph_client):
    make_policy(org["a"], SECURITY)
    directory.sync(graph_client)
    key = submit_key(org)
    sato = User.objects.get(entra_oid="oid-sato")
    assert key.can_decide(org["lead_b"]) and key.can_decide(sato)

    board.users["oid-lead_b"].groups.remove(BOARD)
    # The policy changes meanwhile: the request in flight still names the board, and the
    # sync still reads it.
    make_policy(org["a"], LEADS)
    run = directory.sync(graph_client)
    assert run.status == SyncRun.Status.OK, run.error

    assert BOARD not in User.objects.get(pk=org["lead_b"].pk).entra_groups
    assert not key.can_decide(User.objects.get(pk=org["lead_b"].pk))
    assert key.can_decide(sato)
    assert workflow.approve(key, actor=sato) == "approved"
    key.refresh_from_db()
    assert key.status == Status.APPROVED


def test_a_group_the_directory_does_not_know_leaves_the_sync_running(org, board, graph_client):
    make_policy(org["a"], {"name": "Ghosts", "approver": "group", "group_id": "grp-deleted"})
    run = directory.sync(graph_client)
    assert run.status == SyncRun.Status.OK, run.error
    assert run.counts["missing_groups"] == 1
    key = submit_key(org)
    assert approver_emails(key) == ["infra@example.com"]  # nobody in it: the fallback
