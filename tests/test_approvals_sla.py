"""Approval SLAs on a controllable clock: reminders, escalation and expiry in working time
(weekends and holidays in the portal's time zone do not count), and once through a real
Celery worker driven by celery-beat's task."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail

from approvals import engine, sla, tasks, workflow
from approvals.lifecycle import Status
from approvals.models import RequestStage
from keys.models import VirtualKey
from portal.models import AuditEvent

from .approvals_helpers import make_policy, submit_key
from .conftest import make_user
from .integration import start_worker, wait_for

TOKYO = ZoneInfo("Asia/Tokyo")
FRIDAY_5PM = datetime.datetime(2026, 1, 9, 17, 0, tzinfo=TOKYO)  # a Friday


def at(days=0, hours=0, start=FRIDAY_5PM):
    return start + datetime.timedelta(days=days, hours=hours)


@pytest.fixture
def sla_policy(org):
    deputy = make_user("escalation")
    policy = make_policy(
        org["a"],
        {
            "name": "Lead",
            "approver": "leads",
            "reminder_hours": 8,
            "escalate_hours": 24,
            "fallback": deputy,
            "expire_days": 3,
        },
        {"name": "Infra", "approver": "infra", "condition": "budget_above",
         "threshold": Decimal("50")},
    )  # fmt: skip
    return {"policy": policy, "fallback": deputy}


def started_friday(key):
    RequestStage.objects.filter(object_id=key.pk, state="active").update(started_at=FRIDAY_5PM)
    return engine.current_stage(key)


def test_working_hours_skip_weekends_and_holidays(settings):
    assert settings.TIME_ZONE == "Asia/Tokyo"
    monday_9am = at(days=3, hours=-8)
    assert sla.working_hours_between(FRIDAY_5PM, monday_9am) == pytest.approx(16)
    settings.APPROVAL_HOLIDAYS = ["2026-01-12"]  # that Monday is a holiday
    assert sla.working_hours_between(FRIDAY_5PM, monday_9am) == pytest.approx(7)
    # The same instant seen from UTC: the day boundaries are Tokyo's, not UTC's.
    utc = datetime.UTC
    assert sla.working_hours_between(
        FRIDAY_5PM.astimezone(utc), monday_9am.astimezone(utc)
    ) == pytest.approx(7)


@pytest.mark.django_db
def test_reminder_then_escalation_then_expiry_in_working_time(
    org, sla_policy, django_capture_on_commit_callbacks
):
    key = submit_key(org, max_budget=Decimal("80"))
    started_friday(key)
    mail.outbox.clear()

    # Saturday evening: 7 working hours (Friday's), no reminder yet.
    assert sla.sweep(at(days=1, hours=3)) == {"reminded": 0, "escalated": 0, "expired": 0}
    # Monday 09:00: 16 working hours: reminded once, to the lead who has not decided.
    with django_capture_on_commit_callbacks(execute=True):  # mail goes after commit
        assert sla.sweep(at(days=3, hours=-8))["reminded"] == 1
    assert sla.sweep(at(days=3, hours=-7))["reminded"] == 0
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"]]
    # Tuesday 10:00: 41 working hours: escalated to the stage's fallback, who may decide.
    assert sla.sweep(at(days=4, hours=-7))["escalated"] == 1
    key.refresh_from_db()
    assert key.can_decide(sla_policy["fallback"])
    assert VirtualKey.objects.pending_for(sla_policy["fallback"]).filter(pk=key.pk).exists()
    assert AuditEvent.objects.filter(action="requeststage.escalated").count() == 1
    # Thursday 17:00: 72 working hours = 3 working days: the request expires; requester told.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sweep(at(days=6))["expired"] == 1
    key.refresh_from_db()
    assert key.status == Status.EXPIRED
    assert [(s.name, s.state) for s in engine.stages_for(key)] == [
        ("Lead", "expired"),
        ("Infra", "expired"),
    ]
    assert any(m.to == ["dev_a@example.com"] and "expired" in m.subject for m in mail.outbox)
    assert sla.sweep(at(days=7))["expired"] == 0  # once


@pytest.mark.django_db
def test_a_decided_stage_is_not_chased(org, sla_policy):
    key = submit_key(org, max_budget=Decimal("80"))
    started_friday(key)
    workflow.approve(key, actor=org["lead_a"])
    counts = sla.sweep(at(days=10))
    assert counts["expired"] == 0  # the infra stage started now, not on Friday
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED


def test_beat_schedules_the_sweeps():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"approvals.tasks.sweep_slas", "approvals.tasks.sweep_reviews"} <= tasks_scheduled


@pytest.mark.django_db(transaction=True)
def test_premium_request_reminded_and_escalated_by_a_real_worker(org):
    """Lead → infra for a premium model; nobody acts; the beat task, run by a real worker on
    the clock it is given, reminds and then escalates."""
    make_policy(
        org["a"],
        {"name": "Lead", "approver": "leads", "reminder_hours": 4, "escalate_hours": 16},
        {"name": "Infra", "approver": "infra", "condition": "premium_model",
         "premium_models": ["claude-3-5-sonnet"]},
    )  # fmt: skip
    key = submit_key(org, llm_models=["claude-3-5-sonnet"])
    assert [s.name for s in engine.stages_for(key)] == ["Lead", "Infra"]
    stage = started_friday(key)
    worker = start_worker()
    try:
        tasks.sweep_slas.delay(at(days=3, hours=-12).isoformat())  # Monday 05:00: 12 h
        wait_for(lambda: RequestStage.objects.get(pk=stage.pk).reminded_at, timeout=60)
        assert RequestStage.objects.get(pk=stage.pk).escalated_at is None
        tasks.sweep_slas.delay(at(days=3, hours=-4).isoformat())  # Monday 13:00: 20 h
        wait_for(lambda: RequestStage.objects.get(pk=stage.pk).escalated_at, timeout=60)
    finally:
        worker.stop()
    stage.refresh_from_db()
    assert org["infra"] in stage.approvers.all()  # no fallback named: infra
    # The lead still decides; then infra's stage; then the request is approved.
    assert workflow.approve(key, actor=org["lead_a"]) == "next-stage"
    assert workflow.approve(key, actor=org["infra"]) == "approved"
