"""Periodic schedules (django-celery-beat) edited in the admin by infra: every edit that can
slow down or switch off a sync or a sweep is in the audit log, with before/after, who and IP."""

import json

import pytest
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from portal.models import AuditEvent

pytestmark = pytest.mark.django_db

IP = "10.20.30.40"


@pytest.fixture
def sync_task(db):
    every_15 = IntervalSchedule.objects.create(every=15, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="directory sync", task="tenants.tasks.sync_directory", interval=every_15
    )


@pytest.fixture
def infra(org, client):
    client.force_login(org["infra"])
    return client


def change_form(client, url: str) -> dict:
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or value is False:
            continue
        data[name] = value.pk if hasattr(value, "pk") else value
    return data


def test_disabling_and_slowing_a_periodic_task_in_the_admin_is_audited(org, infra, sync_task):
    every_day = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    url = f"/admin/django_celery_beat/periodictask/{sync_task.pk}/change/"
    data = change_form(infra, url)
    data.pop("enabled", None)  # unchecked: switched off
    data.update({"interval": every_day.pk, "regtask": "", "args": "[]", "kwargs": "{}"})
    response = infra.post(url, data, REMOTE_ADDR=IP)
    assert response.status_code == 302, response.content[:3000]
    sync_task.refresh_from_db()
    assert not sync_task.enabled and sync_task.interval == every_day

    event = AuditEvent.objects.get(action="periodictask.changed_in_admin")
    assert (event.before["enabled"], event.after["enabled"]) == (True, False)
    assert event.before["interval"] != event.after["interval"] == every_day.pk
    assert event.object_type == "django_celery_beat.periodictask"
    assert event.object_id == str(sync_task.pk)
    assert (event.actor, event.ip_address) == (org["infra"], IP)


def test_the_disable_action_on_the_list_is_audited_per_task(org, infra, sync_task):
    other = PeriodicTask.objects.create(
        name="expiry sweep", task="keys.tasks.expire", interval=sync_task.interval
    )
    response = infra.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [sync_task.pk, other.pk]},
        REMOTE_ADDR=IP,
    )
    assert response.status_code == 302
    events = AuditEvent.objects.filter(action="periodictask.changed_in_admin")
    assert sorted(e.object_id for e in events) == sorted([str(sync_task.pk), str(other.pk)])
    for event in events:
        assert (event.before["enabled"], event.after["enabled"]) == (True, False)
        assert (event.actor, event.ip_address) == (org["infra"], IP)


def test_slowing_an_interval_schedule_is_audited(org, infra, sync_task):
    schedule = sync_task.interval
    url = f"/admin/django_celery_beat/intervalschedule/{schedule.pk}/change/"
    data = {"every": 6, "period": "hours", **inline_management()}
    assert infra.post(url, data, REMOTE_ADDR=IP).status_code == 302
    event = AuditEvent.objects.get(action="intervalschedule.changed_in_admin")
    assert (event.before["every"], event.before["period"]) == (15, "minutes")
    assert (event.after["every"], event.after["period"]) == (6, "hours")
    assert (event.actor, event.ip_address) == (org["infra"], IP)


def inline_management() -> dict:
    prefix = "periodictask_set"
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}


def test_adding_and_deleting_schedules_are_audited(org, infra):
    response = infra.post(
        "/admin/django_celery_beat/crontabschedule/add/",
        {"minute": "0", "hour": "3", "day_of_month": "*", "month_of_year": "*",
         "day_of_week": "*", "timezone": "UTC", **inline_management()},
        REMOTE_ADDR=IP,
    )  # fmt: skip
    assert response.status_code == 302, response.content[:3000]
    crontab = CrontabSchedule.objects.get(hour="3")
    added = AuditEvent.objects.get(action="crontabschedule.created_in_admin")
    assert added.before is None and added.after["hour"] == "3"
    assert (added.actor, added.ip_address) == (org["infra"], IP)

    task = PeriodicTask.objects.create(
        name="nightly ingest", task="costs.tasks.ingest", crontab=crontab,
        kwargs=json.dumps({"days": 3}),
    )  # fmt: skip
    url = f"/admin/django_celery_beat/periodictask/{task.pk}/delete/"
    assert infra.post(url, {"post": "yes"}, REMOTE_ADDR=IP).status_code == 302
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    deleted = AuditEvent.objects.get(action="periodictask.deleted_in_admin")
    assert deleted.before["name"] == "nightly ingest" and deleted.after is None
    assert deleted.object_id == str(task.pk)
    assert (deleted.actor, deleted.ip_address) == (org["infra"], IP)


def test_an_action_that_changes_no_row_is_recorded_too(org, infra, sync_task):
    """ "Run selected tasks" writes nothing to the rows; that infra ran it is still recorded
    (a task name no worker knows, so nothing is sent to the broker)."""
    PeriodicTask.objects.filter(pk=sync_task.pk).update(task="not.a.registered.task")
    response = infra.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "run_tasks", "_selected_action": [sync_task.pk]},
        REMOTE_ADDR=IP,
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="periodictask.action_run_in_admin")
    assert event.after == {"action": "run_tasks", "objects": [str(sync_task.pk)]}
    assert (event.actor, event.ip_address) == (org["infra"], IP)


def test_rows_of_an_inline_are_audited_too(org, infra):
    """A department's memberships, edited on the department's admin page."""
    from tenants.models import Membership

    dept = org["a"]
    url = f"/admin/tenants/department/{dept.pk}/change/"
    page = infra.get(url)
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"allowed_models": '["gpt-4o-mini"]'})
    rows = list(Membership.objects.filter(department=dept).order_by("pk"))
    data.update({"memberships-TOTAL_FORMS": str(len(rows) + 1),
                 "memberships-INITIAL_FORMS": str(len(rows))})  # fmt: skip
    for i, m in enumerate(rows):
        data.update({f"memberships-{i}-id": m.pk, f"memberships-{i}-department": dept.pk,
                     f"memberships-{i}-user": m.user_id, f"memberships-{i}-role": m.role,
                     f"memberships-{i}-source": m.source})  # fmt: skip
    lead = rows[0] if rows[0].role == "lead" else rows[1]
    i = rows.index(lead)
    data[f"memberships-{i}-DELETE"] = "on"
    n = len(rows)
    new = {"department": dept.pk, "user": org["dev_b"].pk, "role": "member", "source": "manual"}
    data.update({f"memberships-{n}-{k}": v for k, v in new.items()})
    response = infra.post(url, data, REMOTE_ADDR=IP)
    assert response.status_code == 302, response.content[:3000]
    added = AuditEvent.objects.get(action="membership.created_in_admin")
    assert added.after["user"] == org["dev_b"].pk and added.ip_address == IP
    removed = AuditEvent.objects.get(action="membership.deleted_in_admin")
    assert removed.object_id == str(lead.pk) and removed.before["user"] == org["lead_a"].pk
    assert (removed.actor, removed.ip_address) == (org["infra"], IP)
