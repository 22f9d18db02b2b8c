"""Directory sync against the Entra and Graph doubles: real msal, real httpx, real sockets."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.management import call_command

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal.models import AuditEvent
from projects.models import TuningProject
from tenants import directory
from tenants.models import Membership, SyncRun, User

from . import factories
from .conftest import make_department
from .doubles.entra import EntraDouble, sign_in
from .doubles.graph import GraphDouble, client_for
from .test_key_requests import VALID

pytestmark = pytest.mark.django_db

INFRA_GROUP = "grp-platform"
CALLBACK = "http://testserver/accounts/oidc/entra/login/callback/"


# --- fixtures and helpers (also used by test_directory_leavers.py) ----------------------------
@pytest.fixture
def entra():
    double = EntraDouble()
    double.register_redirect_uri(CALLBACK)
    yield double
    double.close()


@pytest.fixture
def graph(entra):
    double = GraphDouble(entra)
    yield double
    double.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def graph_client(entra, graph, sleeps):
    client = client_for(entra, graph.base_url, sleep=sleeps.append, max_retries=2)
    with client:
        yield client


@pytest.fixture
def graph_settings(settings, entra, graph):
    """The portal's own ENTRA_* settings pointed at the doubles (GraphClient.from_settings)."""
    settings.ENTRA_TENANT_ID = entra.tenant_id
    settings.ENTRA_CLIENT_ID = entra.client_id
    settings.ENTRA_CLIENT_SECRET = entra.client_secret
    settings.ENTRA_ALLOWED_TENANTS = [entra.tenant_id]
    settings.ENTRA_AUTHORITY_HOST = entra.https_base_url
    settings.ENTRA_INSTANCE_DISCOVERY = False
    settings.ENTRA_CA_BUNDLE = entra.ca_bundle
    settings.GRAPH_URL = graph.base_url
    settings.ENTRA_INFRA_GROUP_ID = INFRA_GROUP
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            **settings.SOCIALACCOUNT_PROVIDERS["openid_connect"],
            "APPS": [
                {
                    "provider_id": "entra",
                    "name": "Microsoft Entra ID",
                    "client_id": entra.client_id,
                    "secret": entra.client_secret,
                    "settings": {
                        "server_url": entra.server_url,
                        "uid_field": "oid",
                        "fetch_userinfo": False,
                        "token_auth_method": "client_secret_post",
                    },
                }
            ],
        }
    }
    return settings


@pytest.fixture(autouse=True)
def infra_group(settings):
    settings.ENTRA_INFRA_GROUP_ID = INFRA_GROUP


def mirror_org(entra: EntraDouble, org) -> None:
    """Put the org fixture's people into the directory, in the groups matching their roles."""
    entra.add_user("oid-lead_a", "lead_a@example.com", "Lead_A", ["grp-alpha-leads"])
    entra.add_user("oid-dev_a", "dev_a@example.com", "Dev_A", ["grp-alpha-members"])
    entra.add_user("oid-lead_b", "lead_b@example.com", "Lead_B", ["grp-beta-leads"])
    entra.add_user("oid-dev_b", "dev_b@example.com", "Dev_B", ["grp-beta-members"])
    entra.add_user("oid-infra", "infra@example.com", "Infra", [INFRA_GROUP])


def roles(user: User) -> dict[str, str]:
    return {m.department.slug: m.role for m in user.memberships.select_related("department")}


def kinds(run: SyncRun) -> list[tuple[str, str, str]]:
    return sorted((c["kind"], c["email"], c["department"]) for c in run.changes)


# --- joiners ----------------------------------------------------------------------------------
def test_joiner_gets_a_pending_user_and_membership_leads_see_them(org, entra, graph_client, client):
    mirror_org(entra, org)
    entra.add_user("oid-new", "mika@example.com", "Mika Ito", ["grp-alpha-members"])

    run = directory.sync(graph_client)

    assert run.status == SyncRun.Status.OK, run.error
    new = User.objects.get(entra_oid="oid-new")
    assert (new.email, new.display_name) == ("mika@example.com", "Mika Ito")
    assert new.last_login is None and not new.has_usable_password() and new.is_active
    membership = new.memberships.get()
    assert (membership.department, membership.role, membership.source) == (
        org["a"],
        "member",
        "entra",
    )
    assert kinds(run) == [
        ("joiner", "mika@example.com", "Alpha"),
        ("new_user", "mika@example.com", ""),
    ]
    assert run.counts["users"] == 6 and run.counts["joiner"] == 1
    assert run.triggered_by is None and run.finished_at
    assert AuditEvent.objects.filter(
        action="user.created_from_directory", object_id=str(new.pk)
    ).exists()
    assert AuditEvent.objects.filter(action="membership.added", object_repr__contains="Mika")
    # The org fixture's roles matched the directory: nothing else changed.
    assert (
        roles(org["lead_a"]) == {"alpha": "lead"} and User.objects.get(pk=org["infra"].pk).is_infra
    )

    client.force_login(org["lead_a"])
    assert "Mika Ito" in client.get("/departments/alpha/").content.decode()

    # A second run finds nothing to do.
    again = directory.sync(graph_client)
    assert again.status == "ok" and again.changes == []


def test_pending_user_signs_in_as_the_same_user(org, entra, graph_client, graph_settings, client):
    mirror_org(entra, org)
    person = entra.add_user("oid-new", "mika@example.com", "Mika Ito", ["grp-alpha-members"])
    directory.sync(graph_client)
    pending = User.objects.get(entra_oid="oid-new")

    response = sign_in(client, entra, person.oid)

    assert response.status_code == 302 and response.url == "/"
    assert User.objects.filter(entra_oid="oid-new").count() == 1
    user = User.objects.get(pk=pending.pk)
    assert user.last_login is not None and roles(user) == {"alpha": "member"}


# --- roles ------------------------------------------------------------------------------------
def test_lead_change_promotes_and_demotes_manual_untouched(org, entra, graph_client):
    mirror_org(entra, org)
    Membership.objects.create(
        user=org["dev_a"], department=org["b"], role="lead", source=Membership.Source.MANUAL
    )
    entra.users["oid-dev_a"].groups = ["grp-alpha-members", "grp-alpha-leads"]
    entra.users["oid-lead_a"].groups = ["grp-alpha-members"]

    run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    assert roles(org["dev_a"]) == {"alpha": "lead", "beta": "lead"}  # beta: manual, kept
    assert roles(org["lead_a"]) == {"alpha": "member"}
    changes = {(c["email"], c["before"], c["after"]) for c in run.changes}
    assert changes == {
        ("dev_a@example.com", "member", "lead"),
        ("lead_a@example.com", "lead", "member"),
    }
    assert all(c["kind"] == "role_change" for c in run.changes)
    assert AuditEvent.objects.filter(action="membership.role_changed").count() == 2


def test_infra_group_grants_and_removes_infra(org, entra, graph_client):
    mirror_org(entra, org)
    entra.users["oid-dev_b"].groups.append(INFRA_GROUP)
    entra.users["oid-infra"].groups = []

    run = directory.sync(graph_client)

    dev_b, infra = User.objects.get(pk=org["dev_b"].pk), User.objects.get(pk=org["infra"].pk)
    assert dev_b.is_infra and dev_b.is_staff
    assert not infra.is_infra and not infra.is_staff
    assert sorted((c["email"], c["after"]) for c in run.changes if c["kind"] == "infra_change") == [
        ("dev_b@example.com", True),
        ("infra@example.com", False),
    ]


# --- leavers ----------------------------------------------------------------------------------
def make_project(org, **extra) -> TuningProject:
    fields = {
        "name": "rag-eval",
        "purpose": "evaluation",
        "justification": "because",
        "lifetime_days": 30,
        "status": Status.ACTIVE,
        "fulfilment": TuningProject.Fulfilment.MANUAL,
    }
    return factories.make_project(org, **{**fields, **extra})


def test_leaver_loses_memberships_and_tuning_projects_end(
    org, entra, graph_client, django_capture_on_commit_callbacks
):
    mirror_org(entra, org)
    project = make_project(org)
    entra.users["oid-dev_a"].groups = []  # removed from every mapped group

    with django_capture_on_commit_callbacks(execute=True):
        run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    assert roles(org["dev_a"]) == {}
    assert User.objects.get(pk=org["dev_a"].pk).is_active  # left the groups, not the company
    assert TuningProject.objects.get(pk=project.pk).status == Status.REVOKED
    offboarded = [c for c in run.changes if c["kind"] == "offboarded"]
    assert offboarded and offboarded[0]["projects"] == [project.project_name]
    assert ("leaver", "dev_a@example.com", "Alpha") in kinds(run)
    notice = [m for m in mail.outbox if "left" in m.subject]
    assert len(notice) == 1 and sorted(notice[0].to) == ["infra@example.com", "lead_a@example.com"]
    assert project.project_name in notice[0].body


def test_person_gone_from_the_directory_is_a_leaver(org, entra, graph_client):
    mirror_org(entra, org)
    del entra.users["oid-dev_b"]  # deleted in Entra: not in any group any more
    run = directory.sync(graph_client)
    assert roles(org["dev_b"]) == {}
    assert ("leaver", "dev_b@example.com", "Beta") in kinds(run)


def test_disabled_user_is_a_leaver_even_in_groups_and_comes_back(
    org, entra, graph_client, django_capture_on_commit_callbacks
):
    mirror_org(entra, org)
    key = factories.make_key(
        org, status=Status.ACTIVE
    )  # no LiteLLM token: blocking has nothing to call
    entra.users["oid-dev_a"].account_enabled = False

    with django_capture_on_commit_callbacks(execute=True):
        run = directory.sync(graph_client)

    dev = User.objects.get(pk=org["dev_a"].pk)
    assert not dev.is_active and roles(dev) == {}
    assert ("disabled", "dev_a@example.com", "") in kinds(run)
    key.refresh_from_db()
    assert key.status == Status.SUSPENDED and key.suspended_at and key.blocked_at
    assert key.get_status_display() == "suspended: owner left"

    entra.users["oid-dev_a"].account_enabled = True
    run = directory.sync(graph_client)
    dev = User.objects.get(pk=org["dev_a"].pk)
    assert dev.is_active and roles(dev) == {"alpha": "member"}
    assert ("enabled", "dev_a@example.com", "") in kinds(run)


def test_infra_deactivation_by_hand_is_not_undone(org, entra, graph_client):
    mirror_org(entra, org)
    User.objects.filter(pk=org["dev_b"].pk).update(is_active=False)
    directory.sync(graph_client)
    assert not User.objects.get(pk=org["dev_b"].pk).is_active


# --- Graph: paging, throttling, failures -------------------------------------------------------
def test_paging_over_several_pages(org, entra, graph, graph_client):
    mirror_org(entra, org)
    graph.page_size = 3
    for i in range(11):
        entra.add_user(f"oid-p{i:02}", f"p{i}@example.com", f"P {i}", ["grp-beta-members"])
    graph.nest_group("grp-beta-nested", "grp-beta-members")
    entra.add_user("oid-nested", "nested@example.com", "Nested", ["grp-beta-nested"])
    before = graph.request_count

    run = directory.sync(graph_client)

    assert run.status == "ok", run.error
    assert run.counts["joiner"] == 12 and run.counts["users"] == 17
    members = set(
        org["b"].memberships.filter(role="member").values_list("user__entra_oid", flat=True)
    )
    assert {f"oid-p{i:02}" for i in range(11)} | {"oid-nested", "oid-dev_b"} == members
    skip = [p for _, p in graph.requests[before:] if "skiptoken" in p]
    assert len(skip) >= 4  # 14 objects in grp-beta-members: 5 pages of 3


def test_throttling_honours_retry_after(org, entra, graph, graph_client, sleeps):
    mirror_org(entra, org)
    entra.add_user("oid-new", "new@example.com", "New", ["grp-alpha-members"])
    graph_client._token()  # the token first: the throttle is for Graph calls
    graph.throttle_next(2, retry_after=3)
    run = directory.sync(graph_client)
    assert run.status == "ok", run.error
    assert sleeps == [3.0, 3.0]
    assert User.objects.filter(entra_oid="oid-new").exists()


def test_graph_down_fails_the_run_and_changes_nothing(org, entra, graph, graph_client, sleeps):
    mirror_org(entra, org)
    entra.add_user("oid-new", "new@example.com", "New", ["grp-alpha-members"])
    entra.users["oid-dev_a"].groups = []
    users, memberships = User.objects.count(), list(Membership.objects.values_list())
    events = AuditEvent.objects.count()
    graph.down = True

    run = directory.sync(graph_client)

    assert run.status == SyncRun.Status.FAILED and run.finished_at
    assert "serviceNotAvailable" in run.error and "503" in run.error
    assert len(sleeps) == 2  # the client's own retries, then gave up
    assert run.changes == []
    assert User.objects.count() == users
    assert list(Membership.objects.values_list()) == memberships
    assert list(AuditEvent.objects.values_list("action", flat=True)[events:]) in (
        ["directory.sync_failed"],
        [],
    )
    assert AuditEvent.objects.filter(action="directory.sync_failed").count() == 1


def test_throttled_past_the_retries_fails_the_run(org, entra, graph, graph_client):
    mirror_org(entra, org)
    graph_client._token()
    graph.throttle_next(50, retry_after=1)
    run = directory.sync(graph_client)
    assert run.status == "failed" and "TooManyRequests" in run.error
    assert roles(org["dev_a"]) == {"alpha": "member"}


def test_unknown_group_fails_the_run(org, entra, graph_client):
    mirror_org(entra, org)
    make_department("gamma", member_group_id="grp-deleted", lead_group_id="")
    run = directory.sync(graph_client)
    assert run.status == "failed" and "Request_ResourceNotFound" in run.error


def test_empty_directory_is_refused(org, entra, graph_client):
    for group in ("alpha-members", "alpha-leads", "beta-members", "beta-leads"):
        entra.add_group(f"grp-{group}")
    entra.add_group(INFRA_GROUP)
    run = directory.sync(graph_client)  # nobody in any group, but Entra roles exist
    assert run.status == "failed" and "refusing" in run.error
    assert roles(org["dev_a"]) == {"alpha": "member"}


def test_wrong_secret_fails_the_run(org, entra, graph):
    with client_for(entra, graph.base_url, secret="wrong") as client:
        run = directory.sync(client)
    assert run.status == "failed" and "invalid_client" in run.error


def test_not_configured_fails_the_run(org, settings):
    settings.ENTRA_CLIENT_ID = ""
    run = directory.sync()
    assert run.status == "failed" and "not configured" in run.error


# --- task, command, pages ----------------------------------------------------------------------
def test_task_and_command_use_the_settings(org, entra, graph_settings, capsys):
    from tenants.tasks import sync_directory

    mirror_org(entra, org)
    entra.add_user("oid-new", "new@example.com", "New", ["grp-alpha-members"])
    result = sync_directory()
    assert result["status"] == "ok" and result["joiner"] == 1
    run = SyncRun.objects.first()
    assert run.status == "ok" and run.triggered_by is None

    entra.users["oid-new"].groups = ["grp-alpha-leads"]
    call_command("sync_directory")
    out = capsys.readouterr().out
    assert "ok" in out and "role_change: new@example.com [Alpha]" in out


def test_only_infra_sees_the_directory_page(org, client, monkeypatch):
    for who in ("lead_a", "dev_a", "nobody"):
        client.force_login(org[who])
        assert client.get("/directory/").status_code == 403
        assert client.post("/directory/sync/").status_code == 403
    run = SyncRun.objects.create(status="ok", counts={"users": 3})
    client.force_login(org["lead_a"])
    assert client.get(f"/directory/runs/{run.pk}/").status_code == 403
    assert not SyncRun.objects.exclude(pk=run.pk).exists()


def test_infra_lists_runs_and_syncs_now(
    org, client, monkeypatch, django_capture_on_commit_callbacks, settings
):
    from tenants import tasks

    settings.PAGE_SIZE = 2
    queued = []
    monkeypatch.setattr(tasks.sync_directory, "delay", lambda **kw: queued.append(kw))
    for i in range(3):
        SyncRun.objects.create(status="ok", changes=[{"kind": "joiner", "user": f"U{i}"}])
    failed = SyncRun.objects.create(status="failed", error="Microsoft Graph HTTP 503: down")
    client.force_login(org["infra"])

    html = client.get("/directory/").content.decode()
    assert 'id="sync-now"' in html and "Microsoft Graph HTTP 503" in html
    assert "Page 1 of 2" in html
    assert client.get("/directory/?page=2").status_code == 200
    detail = client.get(f"/directory/runs/{failed.pk}/").content.decode()
    assert 'id="sync-error"' in detail and "Nothing was changed" in detail

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/directory/sync/")
    run = SyncRun.objects.first()
    assert response.status_code == 302 and response.url == f"/directory/runs/{run.pk}/"
    assert run.status == "running" and run.triggered_by == org["infra"]
    assert queued == [{"run_id": run.pk}]
    assert AuditEvent.objects.filter(action="directory.sync_requested", actor=org["infra"])


def test_sync_now_runs_for_the_person_who_asked(org, entra, graph_settings, client):
    from tenants.tasks import sync_directory

    mirror_org(entra, org)
    entra.add_user("oid-new", "new@example.com", "New", ["grp-alpha-members"])
    run = SyncRun.objects.create(triggered_by=org["infra"])
    sync_directory(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "ok" and run.counts["joiner"] == 1
    client.force_login(org["infra"])
    html = client.get(run.get_absolute_url()).content.decode()
    assert 'data-kind="joiner"' in html and "new@example.com" in html
    event = AuditEvent.objects.get(action="membership.added", object_repr__contains="New")
    assert event.actor == org["infra"]
    assert sync_directory(run_id=run.pk) == {"run": run.pk, "status": "ok"}  # redelivered


def test_admin_lists_runs_read_only(org, client):
    run = SyncRun.objects.create(status="ok")
    client.force_login(org["infra"])
    assert client.get("/admin/tenants/syncrun/").status_code == 200
    assert client.get(f"/admin/tenants/syncrun/{run.pk}/change/").status_code == 200
    assert client.get("/admin/tenants/syncrun/add/").status_code == 403


# --- group overage at sign-in -------------------------------------------------------------------
@pytest.fixture
def departments(db):
    return make_department("alpha"), make_department("beta")


def test_overage_sign_in_gets_roles_from_graph(entra, graph, graph_settings, client, departments):
    many = [f"grp-x{i}" for i in range(210)]
    person = entra.add_user(
        email="many@contoso.example",
        name="Many Groups",
        groups=[*many, "grp-alpha-leads", "grp-beta-members", INFRA_GROUP],
        overage=True,
    )
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 302 and response.url == "/"
    user = User.objects.get(entra_oid=person.oid)
    assert roles(user) == {"alpha": "lead", "beta": "member"}
    assert user.is_infra and not user.groups_overage
    assert len(user.entra_groups) == 213
    assert any(p.endswith(f"/users/{person.oid}/getMemberObjects") for _, p in graph.requests)
    assert AuditEvent.objects.filter(action="user.groups_from_graph", actor=user).exists()


def test_overage_sign_in_with_graph_down_keeps_roles(
    entra, graph, graph_settings, client, departments
):
    person = entra.add_user(email="many@contoso.example", groups=["grp-alpha-members"])
    sign_in(client, entra, person.oid)
    client.logout()
    person.overage = True
    person.groups = ["grp-beta-leads"]
    graph.down = True
    response = sign_in(client, entra, person.oid)
    assert response.status_code == 302
    user = User.objects.get(entra_oid=person.oid)
    assert user.groups_overage and roles(user) == {"alpha": "member"}

    # The next sync fixes them.
    for group in ("grp-alpha-leads", "grp-beta-members", "grp-beta-leads", INFRA_GROUP):
        entra.add_group(group)
    graph.down = False
    run = directory.sync()
    user.refresh_from_db()
    assert run.status == "ok", run.error
    assert roles(user) == {"beta": "lead"} and not user.groups_overage


# --- manager approver rule --------------------------------------------------------------------


def submit(client, org) -> VirtualKey:
    client.force_login(org["dev_a"])
    response = client.post("/keys/request/", {**VALID, "department": org["a"].pk})
    assert response.status_code == 302, response.content[:2000]
    return VirtualKey.objects.latest("pk")


def test_manager_rule_makes_the_manager_the_approver(
    org, entra, graph_settings, client, django_capture_on_commit_callbacks
):
    org["a"].approver_rule = "manager"
    org["a"].save()
    mirror_org(entra, org)
    entra.add_user("oid-boss", "boss@example.com", "The Boss")  # not a portal user yet
    entra.users["oid-dev_a"].manager = "oid-boss"

    with django_capture_on_commit_callbacks(execute=True):
        key = submit(client, org)

    boss = User.objects.get(entra_oid="oid-boss")
    assert key.approver == boss and boss.last_login is None
    assert [m.to for m in mail.outbox] == [["boss@example.com"]]
    # The department's lead no longer decides; the manager and infra do; never the requester.
    assert not key.can_decide(org["lead_a"]) and key.can_decide(org["infra"])
    assert key.can_decide(boss) and not key.can_decide(org["dev_a"])
    assert list(VirtualKey.objects.pending_for(org["lead_a"])) == []
    assert list(VirtualKey.objects.pending_for(boss)) == [key]
    assert list(VirtualKey.objects.pending_for(org["infra"])) == [key]
    client.force_login(org["lead_a"])
    assert client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"}).status_code == 403
    client.force_login(boss)
    assert b"support-bot" in client.get("/approvals/").content
    response = client.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.status == Status.APPROVED and key.decided_by == boss


def test_manager_rule_falls_back_to_the_leads(
    org, entra, graph, graph_settings, client, django_capture_on_commit_callbacks
):
    org["a"].approver_rule = "manager"
    org["a"].save()
    mirror_org(entra, org)  # dev_a has no manager in Entra
    with django_capture_on_commit_callbacks(execute=True):
        key = submit(client, org)
    assert key.approver is None and key.can_decide(org["lead_a"])
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"]]

    entra.add_user("oid-boss", "boss@example.com", "The Boss")
    entra.users["oid-dev_a"].manager = "oid-boss"
    graph.down = True  # Graph unreachable: the leads decide
    key = submit(client, org)
    assert key.approver is None and key.can_decide(org["lead_a"])


def test_lead_group_rule_never_asks_graph(org, entra, graph, graph_settings, client):
    entra.add_user("oid-boss", "boss@example.com", "The Boss")
    mirror_org(entra, org)
    entra.users["oid-dev_a"].manager = "oid-boss"
    key = submit(client, org)
    assert key.approver is None and graph.request_count == 0


def test_manager_who_is_the_requester_is_ignored(org, entra, graph_settings, client):
    org["a"].approver_rule = "manager"
    org["a"].save()
    mirror_org(entra, org)
    entra.users["oid-dev_a"].manager = "oid-dev_a"
    key = submit(client, org)
    assert key.approver is None


def test_existing_portal_user_becomes_the_approver(org, entra, graph_settings, client):
    org["a"].approver_rule = "manager"
    org["a"].save()
    mirror_org(entra, org)
    entra.users["oid-dev_a"].manager = "oid-lead_b"  # a lead of another department
    key = submit(client, org)
    assert key.approver == org["lead_b"]
    assert key.can_view(org["lead_b"]) and key.can_decide(org["lead_b"])
    client.force_login(org["lead_b"])
    assert client.get(f"/keys/{key.pk}/").status_code == 200
