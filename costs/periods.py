"""Months and periods; the forecast is ``costs.forecast``. Days are UTC days, as LiteLLM counts
them (``portal.days``)."""

from __future__ import annotations

import calendar
import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import BadRequest

from portal.days import utc_month_start


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def add_months(month: datetime.date, n: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + n
    return datetime.date(index // 12, index % 12 + 1, 1)


def days_in_month(month: datetime.date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


class FutureMonth(BadRequest):
    """A month after this one was asked for: nothing has been spent in it yet."""


def parse_month(value: str | None, default: datetime.date | None = None) -> datetime.date:
    """``YYYY-MM`` → first day of that month; anything else → the default (this month)."""
    default = default or utc_month_start()
    if not value:
        return default
    try:
        year, month = value.split("-")[:2]
        parsed = datetime.date(int(year), int(month), 1)
    except (ValueError, TypeError):
        return default
    return parsed if datetime.date(2000, 1, 1) <= parsed <= add_months(default, 12) else default


def elapsed_days(month: datetime.date, today: datetime.date) -> int:
    """Days of ``month`` with data so far: all for a past month, 0 for a future one."""
    if today < month:
        return 0
    if today >= next_month(month):
        return days_in_month(month)
    return today.day


def percent(value: Decimal | None, budget: Decimal | None) -> int | None:
    if not budget:
        return None
    return int((Decimal(value or 0) * 100 / Decimal(budget)).to_integral_value(ROUND_HALF_UP))


def key_period_start(budget_duration: str, today: datetime.date, created: datetime.date):
    """Start of a key's current budget period (approximating LiteLLM's own reset)."""
    if budget_duration == "1d":
        return today
    if budget_duration == "7d":
        return today - datetime.timedelta(days=today.weekday())
    if budget_duration == "30d":
        return month_start(today)
    return created  # whole lifetime
