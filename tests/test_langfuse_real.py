"""Tuning projects against the real Langfuse 4.16 (``tests/langfuse_server.py``): provisioning
end to end with the EE test licence, crash-resume, the real 403 without a licence and the
manual path, metrics equal to Langfuse's own numbers, teardown and reconcile."""

import contextlib
import datetime
import re
import uuid

import httpx
import pytest
import time_machine
from django.utils import timezone

from approvals.lifecycle import Status
from portal import crypto
from portal.celery import app as celery_app
from portal.integrations.errors import IntegrationError
from portal.integrations.langfuse import EntitlementMissing
from projects import services as projects
from projects import tasks
from projects.metrics import pull_metrics
from projects.models import ProjectMetricsDay, TuningProject
from projects.reconcile import reconcile_findings

from . import integration
from .factories import make_project
from .integration import PROJECT_REQUEST, start_worker
from .langfuse_real import (
    observations,
    org_client,
    point_settings,
    send_spans,
    send_trace,
    server_env,
    usage_totals,
    utc_day_of,
    wait_counted,
    wait_observations,
)

pytestmark = [pytest.mark.langfuse_real, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ee(langfuse_server, settings):
    """The licensed Langfuse, with the portal pointed at it."""
    point_settings(settings, langfuse_server)
    return langfuse_server


@pytest.fixture
def ee_worker(ee, transactional_db):
    worker = start_worker(**server_env(ee))
    yield worker
    worker.stop()
    celery_app.conf.task_default_queue = "portal"


@pytest.fixture
def scratch_project(ee):
    """Make Langfuse projects with unique names (a test may run again on the same server) and
    delete them afterwards, whether the test passed or not."""
    lf = org_client(ee)
    made = []

    def make(prefix: str):
        project = lf.create_project(f"{prefix}-{uuid.uuid4().hex[:8]}")
        made.append(project.id)
        return project

    yield make
    for project_id in made:
        with contextlib.suppress(IntegrationError):
            lf.delete_project(project_id)


def request_and_approve(client, org, **overrides) -> TuningProject:
    return integration.request_and_approve(client, org, "projects", PROJECT_REQUEST, **overrides)


def wait_project(project_id, predicate, worker, timeout=120) -> TuningProject:
    return integration.wait_project(project_id, predicate, worker, timeout)


def reveal(client, project) -> str:
    html = client.post(f"/projects/{project.pk}/reveal/").content.decode()
    match = re.search(r'<span id="secret">(sk-lf-[^<]+)</span>', html)
    assert match, html[:2000]
    return match.group(1)


def test_provision_hand_over_trace_metrics_and_teardown(
    org, client, ee, ee_worker, scratch_project
):
    lf = org_client(ee)
    # The developer already has a Langfuse account (SCIM), so the membership step can add them.
    user = lf.ensure_user(org["dev_a"].email, display_name="Dev A")

    project = request_and_approve(client, org)
    project = wait_project(project.pk, lambda p: p.status == Status.ACTIVE, ee_worker)
    steps = {name: step["result"] for name, step in project.steps.items()}
    assert steps["project"] == "created"
    assert steps["developer_key"] == steps["portal_key"] == "created"
    assert steps["membership"] == "added"

    # The project, with its metadata, in the organisation; retention as the portal asked.
    [remote] = [p for p in lf.list_projects() if p.id == project.langfuse_project_id]
    assert remote.name == project.project_name
    assert remote.metadata == {
        "portal_request_id": project.pk,
        "department": "alpha",
        "owner": "dev_a@example.com",
    }
    own = lf.project_for_key(project.portal_public_key, project.portal_secret())
    assert own.id == project.langfuse_project_id and own.retention_days == 7
    notes = sorted(k.note for k in lf.list_api_keys(project.langfuse_project_id))
    assert notes == sorted([project.developer_key_note, project.portal_key_note])
    members = lf.list_project_memberships(project.langfuse_project_id)
    assert [(m.user_id, m.role) for m in members if m.user_id == user.id] == [(user.id, "MEMBER")]

    # Revealed once; the developer's key pair then works: the SDK sends a trace into this
    # project, and another project of the same organisation does not see it.
    secret = reveal(client, project)
    again = client.post(f"/projects/{project.pk}/reveal/", follow=True).content.decode()
    assert secret not in again
    assert TuningProject.objects.get(pk=project.pk).secret_encrypted == ""
    trace_id = send_trace(
        ee.url, project.public_key, secret, input_tokens=1200, output_tokens=300, cost=0.0123
    )
    [row] = wait_observations(ee.url, project.public_key, secret, traceId=trace_id)
    assert row["traceId"] == trace_id
    other = scratch_project("tuning-other-team")
    other_key = lf.create_api_key(other.id, note="other")
    assert observations(ee.url, other_key.public_key, other_key.secret_key, traceId=trace_id) == []

    # The hourly pull (portal's own key) stores what Langfuse itself reports for the project.
    rows = observations(ee.url, project.public_key, secret)
    expected = usage_totals(rows)
    assert expected["input_tokens"] == 1200 and expected["output_tokens"] == 300
    wait_counted(ee.url, project.public_key, secret, count=expected["observations"])
    assert tasks.pull_project_metrics() >= 1
    day = ProjectMetricsDay.objects.get(project=project, day=utc_day_of(rows))
    assert (day.traces, day.observations) == (expected["traces"], expected["observations"])
    assert (day.input_tokens, day.output_tokens, day.total_tokens) == (
        expected["input_tokens"],
        expected["output_tokens"],
        expected["total_tokens"],
    )
    assert float(day.cost) == pytest.approx(expected["cost"]) == pytest.approx(0.0123)
    assert str(expected["total_tokens"]) in client.get(f"/projects/{project.pk}/").content.decode()
    client.force_login(org["lead_a"])
    department = client.get("/departments/alpha/").content.decode()
    assert project.project_name in department.split('id="department-projects"')[1]

    # The owner ends the lease: a worker deletes the keys, then the project.
    client.force_login(org["dev_a"])
    assert client.post(f"/projects/{project.pk}/end/").status_code == 302
    project = wait_project(project.pk, lambda p: p.torn_down_at is not None, ee_worker)
    assert project.status == Status.REVOKED
    assert project.langfuse_project_id not in {p.id for p in lf.list_projects()}
    for public_key, secret_key in ((project.public_key, secret),):
        response = httpx.get(f"{ee.url}/api/public/projects", auth=(public_key, secret_key))
        assert response.status_code == 401, response.text
    # Deletion is asynchronous: the project is soft-deleted at once, its keys deleted.
    assert lf.list_api_keys(project.langfuse_project_id) == []
    assert [f for f in reconcile_findings(lf) if f["token"] == project.langfuse_project_id] == []


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def test_metrics_days_are_utc_days_at_both_midnights(org, ee, scratch_project):
    """Observations placed either side of midnight UTC land on their UTC days, whether the pull
    runs in the same second as the last of them, at 23:59 JST or at 00:01 JST (the portal's
    TIME_ZONE is Asia/Tokyo: 15:01 UTC is already the next day there, not in UTC)."""
    lf = org_client(ee)
    remote = scratch_project("tuning-boundary")
    key = lf.create_api_key(remote.id, note="portal")
    project = make_project(
        org,
        status=Status.ACTIVE,
        activated_at=utc("2026-11-29T10:00:00"),
        langfuse_project_id=remote.id,
        portal_public_key=key.public_key,
        portal_secret_encrypted=crypto.encrypt(key.secret_key),
    )
    before, after = utc("2026-11-30T23:59:59.5"), utc("2026-12-01T00:00:00.4")
    send_spans(ee.url, key.public_key, key.secret_key, [before.timestamp(), after.timestamp()])
    wait_counted(ee.url, key.public_key, key.secret_key, count=2, around=after.timestamp())

    def stored() -> dict[str, int]:
        rows = ProjectMetricsDay.objects.filter(project=project)
        return {row.day.isoformat(): row.observations for row in rows}

    # In the same second as the later observation (00:00:00.9 UTC, 09:00 JST).
    with time_machine.travel(utc("2026-12-01T00:00:00.9"), tick=False):
        pull_metrics(project)
    assert stored() == {"2026-11-29": 0, "2026-11-30": 1, "2026-12-01": 1}
    # 23:59 and 00:01 in Tokyo: the same UTC day, so no row for 2 December.
    for moment in ("2026-12-01T14:59:00", "2026-12-01T15:01:00"):
        with time_machine.travel(utc(moment), tick=False):
            pull_metrics(project)
        assert stored() == {"2026-11-29": 0, "2026-11-30": 1, "2026-12-01": 1}, moment
    # 00:01 UTC on 2 December: a new UTC day begins, with nothing in it.
    with time_machine.travel(utc("2026-12-02T00:01:00"), tick=False):
        pull_metrics(project)
    assert stored() == {"2026-11-29": 0, "2026-11-30": 1, "2026-12-01": 1, "2026-12-02": 0}


def test_crash_windows_resume_without_duplicates(org, ee):
    """The worker died after Langfuse acted but before the portal saved: the project is found
    by its name, an orphan key (found by its note) is replaced, and reruns change nothing."""
    lf = org_client(ee)
    project = make_project(org, name="crash", retention_days=3, status=Status.PROVISIONING)
    created_before_crash = lf.create_project(project.project_name, retention_days=3)
    assert projects.ensure_project(lf, project.pk) == "found"
    project.refresh_from_db()
    assert project.langfuse_project_id == created_before_crash.id

    orphan = lf.create_api_key(project.langfuse_project_id, note=project.developer_key_note)
    assert projects.ensure_api_key(lf, project.pk, developer=True) == "recreated"
    keys = lf.list_api_keys(project.langfuse_project_id)
    assert [k.note for k in keys] == [project.developer_key_note]
    assert keys[0].id != orphan.id
    response = httpx.get(
        f"{ee.url}/api/public/projects", auth=(orphan.public_key, orphan.secret_key)
    )
    assert response.status_code == 401  # the orphan no longer works

    projects.provision(project.pk)
    projects.provision(project.pk)  # a duplicate delivery of the task
    project.refresh_from_db()
    assert project.status == Status.ACTIVE
    assert [p.name for p in lf.list_projects()].count(project.project_name) == 1
    notes = sorted(k.note for k in lf.list_api_keys(project.langfuse_project_id))
    assert notes == sorted([project.developer_key_note, project.portal_key_note])
    lf.delete_project(project.langfuse_project_id)


def test_without_licence_real_403_then_manual_fulfilment(
    org, client, langfuse_server, langfuse_server_oss, settings
):
    oss = langfuse_server_oss
    point_settings(settings, oss)
    lf_oss = org_client(oss)
    with pytest.raises(EntitlementMissing):
        lf_oss.list_projects()
    assert reconcile_findings(lf_oss) == []  # nothing to compare without the API

    worker = start_worker(**server_env(oss))
    try:
        project = request_and_approve(client, org)
        project = wait_project(project.pk, lambda p: p.status == Status.MANUAL, worker)
    finally:
        worker.stop()
        celery_app.conf.task_default_queue = "portal"
    assert "not available on your current plan" in project.last_error
    assert project.fulfilment == TuningProject.Fulfilment.MANUAL
    assert project.project_name not in {p.name for p in org_client(langfuse_server).list_projects()}

    # Infra creates the project and a key by hand (here through the licensed instance on the
    # same database, standing in for Langfuse's UI) and enters them in the portal.
    lf_ee = org_client(langfuse_server)
    by_hand = lf_ee.create_project(project.project_name)
    key = lf_ee.create_api_key(by_hand.id, note="created by hand")
    client.force_login(org["infra"])
    response = client.post(
        f"/projects/{project.pk}/fulfil/",
        {
            "langfuse_project_id": by_hand.id,
            "public_key": key.public_key,
            "secret_key": key.secret_key,
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.status == Status.ACTIVE
    client.force_login(org["dev_a"])
    secret = reveal(client, project)
    assert secret == key.secret_key

    # The developer's key pair works on the unlicensed instance: tracing needs no licence.
    trace_id = send_trace(oss.url, project.public_key, secret)
    [row] = wait_observations(oss.url, project.public_key, secret, traceId=trace_id)
    assert row["traceId"] == trace_id

    # At the end, infra deletes the project by hand and confirms it.
    TuningProject.objects.filter(pk=project.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    tasks.expire_projects()
    project.refresh_from_db()
    assert project.status == Status.EXPIRED and project.torn_down_at is None
    lf_ee.delete_project(by_hand.id)
    client.force_login(org["infra"])
    client.post(f"/projects/{project.pk}/teardown-done/")
    project.refresh_from_db()
    assert project.torn_down_at is not None
