"""Approval SLAs: reminders, escalation and expiry per stage, in working time.

A working day is Monday to Friday, from ``APPROVAL_WORKDAY_START`` to ``APPROVAL_WORKDAY_END``
(09:00–18:00 by default) in the portal's time zone (``TIME_ZONE``), minus the dates in
``APPROVAL_HOLIDAYS``; nights, weekends and holidays do not count towards "remind after 8
hours". Each day's hours are wall-clock times in that zone, and durations are measured
between instants, so a zone with daylight saving time is counted as it is lived. The sweep
runs from celery-beat and takes ``now`` as an argument, so tests (and a replay) control the
clock.
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.utils import timezone

from portal import audit

from . import decisions, engine, notify, routing
from .models import RequestStage
from .models import StageState as S

REMINDED = audit.action("requeststage.reminded")
ESCALATED = audit.action("requeststage.escalated")
UTC = datetime.UTC
# A deadline further away than this is a mistake (no working day configured at all).
MAX_DAYS = 3660


def _holidays() -> set[datetime.date]:
    return {datetime.date.fromisoformat(d) for d in settings.APPROVAL_HOLIDAYS if d}


def workday() -> tuple[datetime.time, datetime.time]:
    """The working day's opening and closing times (wall clock in ``TIME_ZONE``)."""
    try:
        start = datetime.time.fromisoformat(settings.APPROVAL_WORKDAY_START)
        end = datetime.time.fromisoformat(settings.APPROVAL_WORKDAY_END)
    except ValueError as exc:
        raise ImproperlyConfigured(f"APPROVAL_WORKDAY_START/END: {exc}") from exc
    if end <= start:
        raise ImproperlyConfigured("APPROVAL_WORKDAY_END must be after APPROVAL_WORKDAY_START.")
    return start, end


def workday_hours() -> float:
    """Hours in one working day (9 by default): "expire after K working days" is K of these."""
    start, end = workday()
    day = datetime.date(2001, 1, 1)
    delta = datetime.datetime.combine(day, end) - datetime.datetime.combine(day, start)
    return delta.total_seconds() / 3600


def _working_span(day: datetime.date, tz, hours, holidays) -> tuple | None:
    """The working hours of ``day`` as two UTC instants, or None on a day off."""
    if day.weekday() >= 5 or day in holidays:
        return None
    start, end = hours
    opens = datetime.datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
    closes = datetime.datetime.combine(day, end, tzinfo=tz).astimezone(UTC)
    return opens, closes


def working_hours_between(start: datetime.datetime, end: datetime.datetime) -> float:
    """Working hours from ``start`` to ``end`` (aware datetimes in any zone)."""
    if end <= start:
        return 0.0
    tz = timezone.get_default_timezone()
    hours, holidays = workday(), _holidays()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = datetime.timedelta()
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    while day <= last:
        span = _working_span(day, tz, hours, holidays)
        if span is not None:
            overlap = min(end, span[1]) - max(start, span[0])
            total += max(overlap, datetime.timedelta())
        day += datetime.timedelta(days=1)
    return total.total_seconds() / 3600


def add_working_hours(start: datetime.datetime, hours: float) -> datetime.datetime:
    """The instant ``hours`` working hours after ``start``, in ``TIME_ZONE`` (a deadline).
    Outside working time the clock waits for the next working day's start: Friday 17:30 plus
    one hour is Monday 09:30."""
    tz = timezone.get_default_timezone()
    workhours, holidays = workday(), _holidays()
    remaining = datetime.timedelta(hours=hours)
    now = start.astimezone(UTC)
    day = start.astimezone(tz).date()
    for _ in range(MAX_DAYS):
        span = _working_span(day, tz, workhours, holidays)
        if span is not None and now < span[1]:
            now = max(now, span[0])
            if remaining <= span[1] - now:
                return (now + remaining).astimezone(tz)
            remaining -= span[1] - now
        day += datetime.timedelta(days=1)
    raise ImproperlyConfigured("No working day within ten years: check APPROVAL_HOLIDAYS.")


def deadlines(stage: RequestStage) -> dict[str, datetime.datetime]:
    """When the stage's reminder, escalation and expiry fall due (those its rule sets)."""
    rule, started = stage.rule, stage.started_at
    due = {}
    if rule.get("reminder_hours"):
        due["remind"] = add_working_hours(started, rule["reminder_hours"])
    if rule.get("escalate_hours"):
        due["escalate"] = add_working_hours(started, rule["escalate_hours"])
    if rule.get("expire_days"):
        due["expire"] = add_working_hours(started, rule["expire_days"] * workday_hours())
    return due


def sweep(now: datetime.datetime | None = None) -> dict:
    """Remind, escalate or expire every stage that waited too long. Each step claims its
    stage with a conditional update, so two sweeps at once never send twice."""
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0, "expired": 0}
    active = RequestStage.objects.filter(state=S.ACTIVE, started_at__lte=now)
    for stage in active.select_related("content_type").iterator():
        due = deadlines(stage)
        if "expire" in due and now >= due["expire"]:
            counts["expired"] += expire(stage, now)
        elif "escalate" in due and not stage.escalated_at:
            counts["escalated"] += now >= due["escalate"] and escalate(stage, now)
        if "remind" in due and not stage.reminded_at:
            counts["reminded"] += now >= due["remind"] and remind(stage, now)
    return counts


def _request(stage: RequestStage):
    model = stage.content_type.model_class()
    return model._default_manager.select_related("department", "requester").get(pk=stage.object_id)


def _claim(stage: RequestStage, field: str, now):
    """Set ``field`` (reminded_at, escalated_at) of the still active stage, once: the request
    for the run that set it, None for any other."""
    claimed = RequestStage.objects.filter(
        pk=stage.pk, state=S.ACTIVE, **{f"{field}__isnull": True}
    ).update(**{field: now})
    return _request(stage) if claimed else None


def remind(stage: RequestStage, now) -> int:
    with transaction.atomic():
        obj = _claim(stage, "reminded_at", now)
        if obj is None:
            return 0
        waiting = stage.approvers.exclude(pk__in=stage.decisions.values("counted_for"))
        audit.record(REMINDED, obj, after={"stage": stage.name})
        notify.reminder(obj, stage, list(waiting))
        return 1


def escalate(stage: RequestStage, now) -> int:
    """Add the stage's fallback approver (else infra) to the people who may decide."""
    with transaction.atomic():
        obj = _claim(stage, "escalated_at", now)
        if obj is None:
            return 0
        fallback = list(
            routing.fallback_approvers(obj, stage.rule, engine.earlier_people(stage, obj))
        )
        stage.approvers.add(*fallback)
        audit.record(ESCALATED, obj, after={"stage": stage.name, "to": [u.email for u in fallback]})
        notify.escalated(obj, stage, fallback)
        return 1


def expire(stage: RequestStage, now) -> int:
    """End the request unapproved, under its row lock; tell the requester."""
    with transaction.atomic():
        obj = _request(stage)
        obj.refresh_from_db(
            from_queryset=type(obj)._default_manager.select_for_update(of=("self",))
        )
        stage.refresh_from_db()
        if stage.state != S.ACTIVE or not obj.is_pending:
            return 0
        try:
            decisions.expire_pending(obj, reason=f"approval stage '{stage.name}' expired")
        except ValidationError:
            return 0
        engine.close_open_stages(obj, S.EXPIRED, now=now)
        notify.expired(obj, stage)
        return 1


def time_in_stage(days: int = 90) -> list[dict]:
    """Median and p90 of working hours from a stage's start to its decision, per department,
    over stages decided in the last ``days`` days. Infra's SLA page."""
    since = timezone.now() - datetime.timedelta(days=days)
    rows = RequestStage.objects.filter(decided_at__gte=since, started_at__isnull=False).values_list(
        "department__name", "name", "started_at", "decided_at"
    )
    hours: dict[tuple, list[float]] = defaultdict(list)
    for department, stage, started, decided in rows:
        hours[(department, stage)].append(working_hours_between(started, decided))
    result = []
    for (department, stage), values in sorted(hours.items()):
        values.sort()
        p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
        result.append(
            {
                "department": department,
                "stage": stage,
                "count": len(values),
                "median": round(statistics.median(values), 1),
                "p90": round(p90, 1),
            }
        )
    return result
