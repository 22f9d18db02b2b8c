"""The money figures several pages show, each computed here once: a person's spend in a
month, a department's actual (LiteLLM plus its tuning projects' Langfuse cost) and what is
left of a budget. Pages, panels and the API call these, so the same figure reads the same
everywhere.

Amounts stay unrounded until they are shown; the one exception is *left*: it is the budget
minus the actual as shown (to the cent), so "left" always equals "budget − spent" on the page.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from . import langfuse_costs, periods, reports
from .models import MonthlySpend

CENT = Decimal("0.01")


def cents(value) -> Decimal:
    """``value`` to the cent, half up (as the pages show money of a cent and more)."""
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def left(budget, actual) -> Decimal:
    """What is left of ``budget``: the budget minus the actual *as shown*."""
    return cents(budget) - cents(actual)


def person_month(user, month: datetime.date) -> Decimal:
    """``user``'s spend in ``month``: the keys they requested and calls made as them (what
    their own costs page counts)."""
    total = reports.mine_daily(user, month).aggregate(total=reports.total("spend"))["total"]
    return total or Decimal(0)


def department_months(departments, months) -> dict[tuple[int, datetime.date], Decimal]:
    """{(department id, month): actual}: LiteLLM's spend and the tuning projects' Langfuse cost
    LiteLLM did not count (two queries for any number of departments and months)."""
    departments, months = list(departments), sorted(months)
    found: dict[tuple[int, datetime.date], Decimal] = {
        (dept_id, month): total
        for dept_id, month, total in MonthlySpend.objects.filter(
            department__in=departments, month__in=months
        )
        .values_list("department", "month")
        .annotate(total=Sum("spend"))
        .order_by()
    }
    langfuse = langfuse_costs.by_department_month(
        months[0], periods.next_month(months[-1]), departments
    )
    for key, cost in langfuse.items():
        if key[1] in months:
            found[key] = found.get(key, Decimal(0)) + cost
    return found


def department_month(department, month: datetime.date) -> Decimal:
    """The department's actual in ``month`` (``department_months`` of one)."""
    return department_months([department], [month]).get((department.pk, month), Decimal(0))
