"""Approval SLAs on a controllable clock: reminders, escalation and expiry in working time
(09:00–18:00 on weekdays in the portal's time zone; nights, weekends and holidays do not
count), and once through a real Celery worker driven by celery-beat's task."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
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


def at(days=0, hours=0, minutes=0, start=FRIDAY_5PM):
    return start + datetime.timedelta(days=days, hours=hours, minutes=minutes)


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


def test_working_hours_skip_nights_weekends_and_holidays(settings):
    assert settings.TIME_ZONE == "Asia/Tokyo"
    assert (settings.APPROVAL_WORKDAY_START, settings.APPROVAL_WORKDAY_END) == ("09:00", "18:00")
    monday_9am, tuesday_10am = at(days=3, hours=-8), at(days=4, hours=-7)
    assert sla.working_hours_between(FRIDAY_5PM, monday_9am) == pytest.approx(1)  # 17–18
    assert sla.working_hours_between(FRIDAY_5PM, tuesday_10am) == pytest.approx(1 + 9 + 1)
    settings.APPROVAL_HOLIDAYS = ["2026-01-12"]  # that Monday is a holiday
    assert sla.working_hours_between(FRIDAY_5PM, tuesday_10am) == pytest.approx(2)
    # The same instants seen from UTC: the day boundaries are Tokyo's, not UTC's.
    utc = datetime.UTC
    assert sla.working_hours_between(
        FRIDAY_5PM.astimezone(utc), tuesday_10am.astimezone(utc)
    ) == pytest.approx(2)


@pytest.mark.django_db
def test_reminder_then_escalation_then_expiry_in_working_time(
    org, sla_policy, django_capture_on_commit_callbacks
):
    key = submit_key(org, max_budget=Decimal("80"))
    started_friday(key)
    mail.outbox.clear()

    # Saturday evening: 1 working hour (Friday 17–18), no reminder yet.
    assert sla.sweep(at(days=1, hours=3)) == {"reminded": 0, "escalated": 0, "expired": 0}
    # Monday 16:00: 1 + 7 = 8 working hours: reminded once, to the lead who has not decided.
    assert sla.sweep(at(days=3, hours=-1, minutes=-1))["reminded"] == 0
    with django_capture_on_commit_callbacks(execute=True):  # mail goes after commit
        assert sla.sweep(at(days=3, hours=-1))["reminded"] == 1
    assert sla.sweep(at(days=3))["reminded"] == 0
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"]]
    # Wednesday 14:00: 1 + 9 + 9 + 5 = 24 working hours: escalated to the stage's fallback.
    assert sla.sweep(at(days=5, hours=-3, minutes=-1))["escalated"] == 0
    assert sla.sweep(at(days=5, hours=-3))["escalated"] == 1
    key.refresh_from_db()
    assert key.can_decide(sla_policy["fallback"])
    assert VirtualKey.objects.pending_for(sla_policy["fallback"]).filter(pk=key.pk).exists()
    assert AuditEvent.objects.filter(action="requeststage.escalated").count() == 1
    # Wednesday 17:00: 27 working hours = 3 working days of 9 hours: the request expires;
    # the requester is told.
    mail.outbox.clear()
    assert sla.sweep(at(days=5, minutes=-1))["expired"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert sla.sweep(at(days=5))["expired"] == 1
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
        tasks.sweep_slas.delay(at(days=3, hours=-5).isoformat())  # Monday 12:00: 4 h
        wait_for(lambda: RequestStage.objects.get(pk=stage.pk).reminded_at, timeout=60)
        assert RequestStage.objects.get(pk=stage.pk).escalated_at is None
        tasks.sweep_slas.delay(at(days=4, hours=-2).isoformat())  # Tuesday 15:00: 16 h
        wait_for(lambda: RequestStage.objects.get(pk=stage.pk).escalated_at, timeout=60)
    finally:
        worker.stop()
    stage.refresh_from_db()
    assert org["infra"] in stage.approvers.all()  # no fallback named: infra
    # The lead still decides; then infra's stage; then the request is approved.
    assert workflow.approve(key, actor=org["lead_a"]) == "next-stage"
    assert workflow.approve(key, actor=org["infra"]) == "approved"


# --- working hours: 09:00–18:00 in TIME_ZONE by default, weekdays, minus holidays ------------
def jst(*args):
    return datetime.datetime(*args, tzinfo=TOKYO)


FRIDAY_1730 = jst(2026, 1, 9, 17, 30)


def test_friday_1730_plus_one_working_hour_is_monday_0930():
    assert sla.add_working_hours(FRIDAY_1730, 1) == jst(2026, 1, 12, 9, 30)
    assert sla.working_hours_between(FRIDAY_1730, jst(2026, 1, 12, 9, 30)) == pytest.approx(1)
    # The whole weekend and the night count for nothing.
    assert sla.working_hours_between(FRIDAY_1730, jst(2026, 1, 12, 9, 0)) == pytest.approx(0.5)


def test_a_holiday_is_skipped(settings):
    settings.APPROVAL_HOLIDAYS = ["2026-01-12"]  # that Monday
    assert sla.add_working_hours(FRIDAY_1730, 1) == jst(2026, 1, 13, 9, 30)
    assert sla.working_hours_between(FRIDAY_1730, jst(2026, 1, 13, 9, 30)) == pytest.approx(1)


def test_before_the_working_day_starts_the_clock_starts_at_its_start():
    monday_7am = jst(2026, 1, 12, 7, 0)
    assert sla.add_working_hours(monday_7am, 1) == jst(2026, 1, 12, 10, 0)
    assert sla.working_hours_between(monday_7am, jst(2026, 1, 12, 10, 0)) == pytest.approx(1)
    # After it ends: the next working day's start.
    assert sla.add_working_hours(jst(2026, 1, 12, 19, 0), 1) == jst(2026, 1, 13, 10, 0)
    # A working day is nine hours; a deadline of two days ends at the second day's close.
    assert sla.add_working_hours(monday_7am, 18) == jst(2026, 1, 13, 18, 0)
    assert sla.working_hours_between(monday_7am, jst(2026, 1, 13, 23, 0)) == pytest.approx(18)


def test_the_working_day_is_configurable(settings):
    settings.APPROVAL_WORKDAY_START = "08:30"
    settings.APPROVAL_WORKDAY_END = "17:15"
    assert sla.add_working_hours(FRIDAY_1730, 1) == jst(2026, 1, 12, 9, 30)
    assert sla.add_working_hours(jst(2026, 1, 9, 17, 0), 1) == jst(2026, 1, 12, 9, 15)
    assert sla.working_hours_between(jst(2026, 1, 12, 0, 0), jst(2026, 1, 13, 0, 0)) == (
        pytest.approx(8.75)
    )


def test_instants_from_any_zone_count_in_time_zone():
    utc = datetime.UTC
    start, end = FRIDAY_1730.astimezone(utc), jst(2026, 1, 12, 9, 30).astimezone(utc)
    assert start.date() == datetime.date(2026, 1, 9) and end.date() == datetime.date(2026, 1, 12)
    assert sla.working_hours_between(start, end) == pytest.approx(1)
    assert sla.add_working_hours(start, 1) == jst(2026, 1, 12, 9, 30)


@pytest.mark.django_db
def test_a_reminder_falls_due_on_monday_0930_for_a_request_sent_friday_1730(org):
    """On a controlled clock: submitted Friday 17:30 JST, "remind after 1 working hour"."""
    make_policy(org["a"], {"name": "Lead", "approver": "leads", "reminder_hours": 1})
    with time_machine.travel(FRIDAY_1730, tick=False):
        key = submit_key(org)
    assert engine.current_stage(key).started_at == FRIDAY_1730
    with time_machine.travel(jst(2026, 1, 12, 9, 29, 59), tick=False):
        assert sla.sweep()["reminded"] == 0
    with time_machine.travel(jst(2026, 1, 12, 9, 30), tick=False):
        assert sla.sweep()["reminded"] == 1
