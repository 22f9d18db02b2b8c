"""Tuning projects moved from ``keys`` to ``projects`` without losing a row: the migrations
change Django's state only, and the content types (with what points at them) follow.

Run forward and back on a database with rows in it, with Django's own migration executor."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from approvals.models import RequestStage
from portal import audit, audit_display
from portal.models import AuditEvent
from projects.models import ProjectMetricsDay, TuningProject

BEFORE = [("keys", "0004_key_token"), ("projects", None)]
# The move, and the project app's later migrations (the code's model reads their columns).
AFTER = [
    ("keys", "0005_tuning_projects_move_to_projects"),
    ("projects", "0002_project_langfuse_host"),
]


def migrate(targets):
    """Migrate to ``targets``; the state of every app there (the others at their latest)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    graph = executor.loader.graph
    moved = {app for app, _ in targets}
    nodes = [n for n in graph.leaf_nodes() if n[0] not in moved]
    nodes += [(app, name) for app, name in targets if name is not None]
    return executor.loader.project_state(nodes, at_end=True).apps


def seed_before(apps) -> dict:
    """Rows written by the old code: a project in keys' table, its metrics, a stage about it."""
    User = apps.get_model("tenants", "User")
    Department = apps.get_model("tenants", "Department")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Project = apps.get_model("keys", "TuningProject")
    Metrics = apps.get_model("keys", "ProjectMetricsDay")
    Stage = apps.get_model("approvals", "RequestStage")
    dev = User.objects.create(username="mig-dev", email="mig-dev@example.com")
    dept = Department.objects.create(name="Migration", slug="migration")
    project = Project.objects.create(
        requester=dev,
        department=dept,
        justification="evals",
        lifetime_days=14,
        name="rag-eval",
        purpose="tuning",
        status="active",
        langfuse_project_id="lf-123",
    )
    Metrics.objects.create(project=project, day=datetime.date(2026, 12, 1), traces=7, cost=1.5)
    ct, _ = ContentType.objects.get_or_create(app_label="keys", model="tuningproject")
    Stage.objects.create(
        content_type=ct,
        object_id=project.pk,
        department=dept,
        position=1,
        name="leads",
        policy_version=1,
        rule={},
        state="approved",
    )
    return {"project": project.pk, "ct": ct.pk}


@pytest.mark.django_db(transaction=True)
def test_tuning_projects_move_to_their_app_and_back_with_their_rows():
    try:
        old = migrate(BEFORE)
        ids = seed_before(old)

        new = migrate(AFTER)
        # Through the migration state's model and through the code's own model.
        moved = new.get_model("projects", "TuningProject").objects.get(pk=ids["project"])
        assert moved.name == "rag-eval" and moved.langfuse_project_id == "lf-123"
        project = TuningProject.objects.select_related("department").get(pk=ids["project"])
        assert project.project_name == f"tuning-{project.pk}-rag-eval"
        assert project.department.slug == "migration"
        metrics = ProjectMetricsDay.objects.get(project=project)
        assert (metrics.traces, metrics.cost) == (7, Decimal("1.500000"))
        # The content type moved (same row, new app): the stage still points at the project.
        stage = RequestStage.objects.get(object_id=project.pk)
        assert stage.content_type_id == ids["ct"]
        assert stage.content_type.app_label == "projects"
        assert stage.request == project

        back = migrate(BEFORE)
        again = back.get_model("keys", "TuningProject").objects.get(pk=ids["project"])
        assert again.name == "rag-eval"
        old_metrics = back.get_model("keys", "ProjectMetricsDay").objects
        assert old_metrics.filter(project=again).count() == 1
        ct = back.get_model("contenttypes", "ContentType").objects.get(pk=ids["ct"])
        assert (ct.app_label, ct.model) == ("keys", "tuningproject")
    finally:
        call_command("migrate", verbosity=0)


@pytest.mark.django_db
def test_audit_events_written_under_the_old_label_still_read():
    """The audit log is append-only: events written as ``keys.tuningproject`` stay so, and
    the readers take them for the moved model."""
    AuditEvent.objects.create(
        actor_label="system", action="tuningproject.approved", object_type="keys.tuningproject"
    )
    assert audit.model_for("keys.tuningproject") is TuningProject
    assert audit.labels_of(TuningProject) == ["projects.tuningproject", "keys.tuningproject"]
    found = AuditEvent.objects.filter(object_type__in=audit.labels_for("projects.tuningproject"))
    assert found.count() == 1
    assert audit_display._field_label("keys.tuningproject", "retention_days") == "retention (days)"
