"""An honest month-end forecast and a like-for-like month-over-month comparison.

Early in a month a run rate over a day or two says little: one busy morning on the 2nd
extrapolates to most of the budget. The forecast therefore blends this month's daily rate
with last month's, counting last month as ``PRIOR_DAYS`` days of evidence, and shows the
range between the two rates. Month over month compares the same days of both months
(1st to today), never a partial month with a whole one.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from . import periods

PRIOR_DAYS = 7  # last month's daily rate weighs as much as a week of this month's data
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Forecast:
    value: Decimal | None  # None: too early to say anything honest
    low: Decimal | None
    high: Decimal | None
    days_of_data: int
    final: bool  # the month is over: the "forecast" is the actual
    blended: bool = False  # last month's daily rate is part of it

    @property
    def is_range(self) -> bool:
        return self.low is not None and self.high is not None and self.low != self.high


def month_end(
    actual: Decimal, month: datetime.date, today: datetime.date, previous_total: Decimal | None
) -> Forecast:
    """Forecast to the end of ``month`` from ``actual`` so far and last month's total."""
    actual = Decimal(actual or 0)
    elapsed = periods.elapsed_days(month, today)
    total_days = periods.days_in_month(month)
    if elapsed >= total_days:
        return Forecast(actual, None, None, elapsed, True)
    if elapsed == 0:
        return Forecast(None, None, None, 0, False)
    remaining = total_days - elapsed
    own_rate = actual / elapsed
    prev_days = periods.days_in_month(periods.add_months(month, -1))
    prior_rate = Decimal(previous_total) / prev_days if previous_total else None
    if prior_rate is None:
        if elapsed < PRIOR_DAYS:
            return Forecast(None, None, None, elapsed, False)  # a few days alone: no guess
        return Forecast(_round(actual + own_rate * remaining), None, None, elapsed, False)
    blended = (actual + prior_rate * PRIOR_DAYS) / (elapsed + PRIOR_DAYS)
    low, high = sorted((own_rate, prior_rate))
    return Forecast(
        _round(actual + blended * remaining),
        _round(actual + low * remaining),
        _round(actual + high * remaining),
        elapsed,
        False,
        True,
    )


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def same_days_last_month(month: datetime.date, today: datetime.date) -> tuple[datetime.date, int]:
    """(first day of last month, how many of its days to compare) for a like-for-like view."""
    previous = periods.add_months(month, -1)
    elapsed = periods.elapsed_days(month, today)
    days = periods.days_in_month(previous)
    if elapsed >= periods.days_in_month(month):
        return previous, days  # a finished month compares with the whole previous month
    return previous, min(elapsed, days)


def previous_to_date(daily_qs, month: datetime.date, today: datetime.date, group_by=None):
    """Last month's spend over the same days as this month so far, from daily rollups.

    ``group_by`` (a field name) returns a dict keyed by it; otherwise one Decimal.
    """
    previous, days = same_days_last_month(month, today)
    qs = daily_qs.filter(day__gte=previous, day__lt=previous + datetime.timedelta(days=days))
    if group_by:
        return dict(qs.values_list(group_by).annotate(total=Sum("spend")).order_by())
    return qs.aggregate(total=Sum("spend"))["total"] or Decimal(0)


def change_percent(current: Decimal, previous: Decimal | None) -> int | None:
    if not previous:
        return None
    return int(((Decimal(current) - previous) * 100 / previous).to_integral_value(ROUND_HALF_UP))
