"""Langfuse tuning projects: request, approval, provisioning through a real worker against the
Langfuse double (OpenAPI-checked), one-time hand-over, manual fulfilment, metrics, teardown."""

import datetime
import re

import pytest
from django.utils import timezone

from approvals import tasks as approval_tasks
from approvals.lifecycle import Status
from keys import reconcile
from portal.days import utc_today
from portal.models import AuditEvent
from projects import services as projects
from projects import tasks
from projects.metrics import metrics_window
from projects.models import ProjectMetricsDay, TuningProject
from projects.reconcile import reconcile_findings

from . import integration
from .factories import make_project
from .integration import PROJECT_REQUEST, start_worker, wait_for, wait_project_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def project_worker(langfuse, transactional_db):
    worker = start_worker(**langfuse.env())
    yield worker
    worker.stop()


def request_and_approve(client, org, **overrides) -> TuningProject:
    return integration.request_and_approve(client, org, "projects", PROJECT_REQUEST, **overrides)


def reveal(client, project) -> str:
    html = client.post(f"/projects/{project.pk}/reveal/").content.decode()
    match = re.search(r'<span id="secret">(sk-lf-[^<]+)</span>', html)
    assert match, html[:2000]
    return match.group(1)


def test_policy_caps_the_lease(org, client):
    client.force_login(org["dev_a"])
    response = client.post(
        "/projects/request/", {**PROJECT_REQUEST, "department": org["a"].pk, "lifetime_days": "90"}
    )
    assert "at most 30 days" in response.content.decode()
    assert not TuningProject.objects.exists()


def test_approve_provision_reveal_metrics_and_teardown(org, client, langfuse, project_worker):
    project = request_and_approve(client, org)
    project = wait_project_status(project.pk, Status.ACTIVE, project_worker)
    remote = langfuse.project_by_name(project.project_name)
    assert remote and remote["id"] == project.langfuse_project_id
    assert project.steps["project"]["result"] == "created"
    assert langfuse.create_project_calls == 1

    # The developer's key pair works against Langfuse; the secret is shown once.
    secret = reveal(client, project)
    own = langfuse.client().project_for_key(project.public_key, secret)
    assert own.id == project.langfuse_project_id
    again = client.post(f"/projects/{project.pk}/reveal/", follow=True).content.decode()
    assert secret not in again
    assert TuningProject.objects.get(pk=project.pk).secret_encrypted == ""

    # Metrics are pulled with the portal's own key and shown on the project page.
    today = utc_today()  # Langfuse's days are UTC days
    langfuse.seed_daily_metrics(
        project.langfuse_project_id,
        today,
        traces=12,
        observations=40,
        input_tokens=1000,
        output_tokens=500,
        cost=0.42,
    )
    assert tasks.pull_project_metrics() >= 1
    row = ProjectMetricsDay.objects.get(project=project, day=today)
    assert (row.traces, row.observations, row.total_tokens) == (12, 40, 1500)
    assert float(row.cost) == pytest.approx(0.42)
    assert "1500" in client.get(f"/projects/{project.pk}/").content.decode()

    # At the end of the lease a worker deletes the API keys, then the project.
    TuningProject.objects.filter(pk=project.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert tasks.expire_projects() == 1
    wait_for(lambda: TuningProject.objects.get(pk=project.pk).torn_down_at, timeout=30)
    assert TuningProject.objects.get(pk=project.pk).status == Status.EXPIRED
    assert langfuse.project_by_name(project.project_name) is None
    assert not [
        k
        for k in langfuse.api_keys.values()
        if k.get("projectId") == project.langfuse_project_id and not k.get("deleted")
    ]


def test_without_entitlement_goes_to_manual_fulfilment(org, client, langfuse, project_worker):
    langfuse.entitlement = False
    project = request_and_approve(client, org)
    project = wait_project_status(project.pk, Status.MANUAL, project_worker)
    assert "not available on your current plan" in project.last_error
    assert project.fulfilment == TuningProject.Fulfilment.MANUAL

    client.force_login(org["infra"])
    assert project.project_name in client.get("/operations/").content.decode()
    response = client.post(
        f"/projects/{project.pk}/fulfil/",
        {
            "langfuse_host": "https://langfuse.example.com",
            "langfuse_project_id": "proj-by-hand",
            "public_key": "pk-lf-hand",
            "secret_key": "sk-lf-hand-1234",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.status == Status.ACTIVE and project.secret_last4 == "1234"
    assert AuditEvent.objects.filter(action="tuningproject.fulfilled_manually").exists()
    assert "sk-lf-hand-1234" not in str(list(AuditEvent.objects.values_list("after", flat=True)))

    client.force_login(org["dev_a"])
    html = client.post(f"/projects/{project.pk}/reveal/").content.decode()
    # The snippet's three variables are all filled: the host is the one infra handed over.
    assert "LANGFUSE_HOST=https://langfuse.example.com" in html
    assert re.search(r'<span id="secret">sk-lf-hand-1234</span>', html)

    # Expiry hands a manual project back to infra, who confirm the deletion by hand.
    TuningProject.objects.filter(pk=project.pk).update(expires_at=timezone.now())
    tasks.expire_projects()
    project.refresh_from_db()
    assert project.status == Status.EXPIRED and project.torn_down_at is None
    client.force_login(org["infra"])
    client.post(f"/projects/{project.pk}/teardown-done/")
    project.refresh_from_db()
    assert project.torn_down_at is not None


def test_langfuse_down_retries_then_one_project(org, client, langfuse, project_worker):
    langfuse.down = True
    project = request_and_approve(client, org)
    wait_for(lambda: TuningProject.objects.get(pk=project.pk).attempts >= 2, timeout=60)
    langfuse.down = False
    project = wait_project_status(project.pk, Status.ACTIVE, project_worker, timeout=90)
    assert langfuse.create_project_calls == 1
    assert len([p for p in langfuse.projects.values() if p["name"] == project.project_name]) == 1


def test_lost_secret_is_recreated_not_duplicated(org, langfuse):
    """A worker that died after Langfuse minted the key but before we stored it: the orphan
    key (found by its note) is deleted and a fresh one made."""
    project = make_project(org, name="orphan", status=Status.PROVISIONING)
    client = langfuse.client()
    projects.ensure_project(client, project.pk)
    project.refresh_from_db()
    langfuse.add_api_key(project.langfuse_project_id, note=project.developer_key_note)
    assert projects.ensure_api_key(client, project.pk, developer=True) == "recreated"
    live = [
        k
        for k in langfuse.api_keys.values()
        if k.get("projectId") == project.langfuse_project_id and not k.get("deleted")
    ]
    assert len(live) == 1
    assert projects.ensure_api_key(client, project.pk, developer=True) == "exists"


def test_lead_of_another_department_cannot_see_or_decide(org, client):
    project = make_project(org)
    client.force_login(org["lead_b"])
    assert client.get(f"/projects/{project.pk}/").status_code == 404
    assert (
        client.post(f"/approvals/projects/{project.pk}/", {"decision": "approve"}).status_code
        == 404
    )
    client.force_login(org["dev_a"])
    assert (
        client.post(f"/approvals/projects/{project.pk}/", {"decision": "approve"}).status_code
        == 403
    )
    client.force_login(org["lead_a"])
    assert "x" in client.get("/approvals/").content.decode()


def active_project(org, langfuse, name="rec") -> TuningProject:
    project = make_project(
        org,
        name=name,
        status=Status.PROVISIONING,
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    assert projects.ensure_project(langfuse.client(), project.pk) == "created"
    TuningProject.objects.filter(pk=project.pk).update(status=Status.ACTIVE)
    project.refresh_from_db()
    return project


@pytest.mark.litellm
def test_reconcile_reports_projects_deleted_or_unknown_in_langfuse(org, langfuse, litellm):
    from django.test import Client as django_client

    from portal.integrations.litellm import LiteLLMClient

    kept = active_project(org, langfuse, "kept")
    gone = active_project(org, langfuse, "gone")
    langfuse.client().delete_project(gone.langfuse_project_id)
    stray = langfuse.add_project("tuning-999-made-by-hand")
    langfuse.add_project("production")  # not a tuning project: none of our business
    findings = reconcile_findings()
    assert {(f["kind"], f["token"]) for f in findings} == {
        ("deleted", gone.langfuse_project_id),
        ("unknown", stray["id"]),
    }
    assert kept.langfuse_project_id not in {f["token"] for f in findings}
    # The hourly reconcile run records them for infra. It also asks the real proxy about every
    # department's team (none exists yet: nothing to report on LiteLLM's side).
    run = reconcile.reconcile(client=LiteLLMClient(litellm.base_url, litellm.master_key))
    langfuse_side = [f["kind"] for f in run.findings if f["team"] == "Langfuse"]
    assert sorted(langfuse_side) == ["deleted", "unknown"] and not run.error
    client = django_client()
    client.force_login(org["infra"])
    assert "tuning-999-made-by-hand" in client.get("/operations/").content.decode()


def test_reconcile_without_entitlement_reports_nothing(org, langfuse):
    langfuse.entitlement = False
    assert reconcile_findings() == []


def test_owner_is_reminded_once_before_the_lease_ends(org, langfuse, mailoutbox, settings):
    project = active_project(org, langfuse)
    settings.REMIND_DAYS_BEFORE_EXPIRY = 10
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.db.transaction.on_commit", lambda fn, robust=False: fn())
        assert approval_tasks.remind_expiring() == 1
        assert approval_tasks.remind_expiring() == 0
    assert [m.to for m in mailoutbox] == [["dev_a@example.com"]]
    assert project.name in mailoutbox[0].subject


def test_lead_sees_project_usage_in_the_department_view(org, client, langfuse):
    project = active_project(org, langfuse)
    today = utc_today()
    for offset, traces in ((0, 5), (3, 7), (40, 100)):  # the 40-day-old day is out of range
        ProjectMetricsDay.objects.create(
            project=project, day=today - datetime.timedelta(days=offset), traces=traces,
            total_tokens=traces * 10, cost=traces / 100,
        )  # fmt: skip
    client.force_login(org["lead_a"])
    html = client.get("/departments/alpha/").content.decode()
    row = html.split('id="department-projects"')[1]
    assert project.project_name in row and ">12<" in row and ">120<" in row
    client.force_login(org["lead_b"])
    assert client.get("/departments/alpha/").status_code == 404


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        # 23:59:59.9 UTC: today is still 1 December; the window ends with its last millisecond.
        ("2026-12-01T23:59:59.900+00:00", "2026-11-29", "2026-12-01"),
        # 00:01 UTC: 2 December has begun.
        ("2026-12-02T00:01:00+00:00", "2026-11-29", "2026-12-02"),
        # 23:59 and 00:01 in Tokyo (14:59 and 15:01 UTC): both still 1 December in UTC.
        ("2026-12-01T23:59:00+09:00", "2026-11-29", "2026-12-01"),
        ("2026-12-02T00:01:00+09:00", "2026-11-29", "2026-12-01"),
    ],
)
def test_metrics_window_is_whole_utc_days_of_the_lease(org, now, first, last):
    project = make_project(
        org, activated_at=datetime.datetime(2026, 11, 29, 22, 30, tzinfo=datetime.UTC)
    )
    since, until = metrics_window(project, datetime.datetime.fromisoformat(now))
    assert since == datetime.datetime.fromisoformat(f"{first}T00:00:00+00:00")
    assert until == datetime.datetime.fromisoformat(f"{last}T23:59:59.999+00:00")
