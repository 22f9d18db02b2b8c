"""What a day is, decided once.

Spend, Langfuse metrics, budget alerts, anomalies and forecasts count **UTC days** (and the
calendar months of those days), as LiteLLM counts them: every timestamp that becomes a day or a
month for them goes through ``utc_day``/``utc_today``/``utc_month_start``. Never ``.date()`` on
an aware datetime, ``timezone.localdate()``, ``date.today()`` or a ``__date`` lookup or
``Trunc*`` without ``tzinfo`` for them: those follow the process's or Django's current time
zone (``TIME_ZONE`` is Asia/Tokyo, nine hours ahead).

The exception is approvals: SLAs count working hours, and delegations run from day to day, in
the portal's ``TIME_ZONE`` (``local_today``).
"""

from __future__ import annotations

import datetime

from django.utils import timezone

UTC = datetime.UTC


def utc_day(moment: datetime.datetime) -> datetime.date:
    """The UTC day of an aware ``moment`` (a naive one is refused: its zone is unknown)."""
    if timezone.is_naive(moment):
        raise ValueError("a naive datetime has no day: make it aware first")
    return moment.astimezone(UTC).date()


def utc_today() -> datetime.date:
    return utc_day(timezone.now())


def utc_month_start(day: datetime.date | datetime.datetime | None = None) -> datetime.date:
    """The first day of the UTC month of ``day`` (a date, an aware datetime; default today)."""
    if day is None:
        day = utc_today()
    elif isinstance(day, datetime.datetime):
        day = utc_day(day)
    return day.replace(day=1)


def utc_day_start(day: datetime.date) -> datetime.datetime:
    """00:00 UTC of ``day``, aware: where a UTC day's window begins."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=UTC)


def utc_day_of(text: str) -> datetime.date:
    """The UTC day of a timestamp as an API writes it: ``2026-12-07T23:59:00Z``, one with an
    offset (``…+09:00``: converted to UTC) or without (taken as UTC, as LiteLLM writes them),
    or a plain ``2026-12-07``."""
    text = str(text).strip()
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return datetime.date.fromisoformat(text[:10])
    if timezone.is_naive(moment):
        return moment.date()
    return utc_day(moment)


def local_today() -> datetime.date:
    """Today in the portal's ``TIME_ZONE``: for approvals (delegations, SLA calendars) only."""
    return timezone.localdate()
