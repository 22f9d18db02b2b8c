"""Approval SLAs: reminders, escalation and expiry per stage, in working time.

Working time is Monday to Friday in the portal's time zone (``TIME_ZONE``), minus
``APPROVAL_HOLIDAYS``; a weekend does not count towards "remind after 8 hours". The sweep runs
from celery-beat and takes ``now`` as an argument, so tests (and a replay) control the clock.
"""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal import audit

from . import decisions, engine, notify
from .models import RequestStage
from .models import StageState as S

REMINDED = "requeststage.reminded"
ESCALATED = "requeststage.escalated"


def _holidays() -> set[datetime.date]:
    return {datetime.date.fromisoformat(d) for d in settings.APPROVAL_HOLIDAYS if d}


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in _holidays()


def working_hours_between(start: datetime.datetime, end: datetime.datetime) -> float:
    """Hours from ``start`` to ``end`` that fall on working days in the portal's time zone."""
    if end <= start:
        return 0.0
    tz = timezone.get_default_timezone()
    start, end = start.astimezone(tz), end.astimezone(tz)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if is_working_day(day):
            day_start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
            day_end = day_start + datetime.timedelta(days=1)
            overlap = min(end, day_end) - max(start, day_start)
            total += max(overlap.total_seconds(), 0) / 3600
        day += datetime.timedelta(days=1)
    return total


def sweep(now: datetime.datetime | None = None) -> dict:
    """Remind, escalate or expire every stage that waited too long. Each step claims its
    stage with a conditional update, so two sweeps at once never send twice."""
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0, "expired": 0}
    active = RequestStage.objects.filter(state=S.ACTIVE, started_at__lte=now)
    for stage in active.select_related("content_type").iterator():
        rule = stage.rule
        hours = working_hours_between(stage.started_at, now)
        if rule.get("expire_days") and hours >= rule["expire_days"] * 24:
            counts["expired"] += expire(stage, now)
        elif rule.get("escalate_hours") and not stage.escalated_at:
            counts["escalated"] += hours >= rule["escalate_hours"] and escalate(stage, now)
        if rule.get("reminder_hours") and not stage.reminded_at:
            counts["reminded"] += hours >= rule["reminder_hours"] and remind(stage, now)
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
        fallback = list(engine.fallback_approvers(obj, stage.rule))
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
