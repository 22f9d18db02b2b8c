"""Money beside a decision: the requester's spend this month, and the department's budget
left now and after this request. Registered with the approval page by ``CostsConfig``."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from portal.days import utc_month_start

from . import figures
from .models import BudgetRequest, MonthlyKeySpend


def panel(obj, ctx: dict) -> dict:
    month = utc_month_start()
    keys = ctx.get("requester_keys") or []
    spend = dict(
        MonthlyKeySpend.objects.filter(month=month, key__in=[k.pk for k in keys])
        .values_list("key")
        .annotate(total=Sum("spend"))
        .order_by()
    )
    for key in keys:
        key.month_spend = spend.get(key.pk) or Decimal(0)
    # The figures of the requester's costs page and the department's (``costs.figures``).
    requester_total = figures.person_month(obj.requester, month)
    dept = obj.department
    actual = figures.department_month(dept, month)
    budget = dept.monthly_budget or Decimal(0)
    if isinstance(obj, BudgetRequest):
        budget_after = obj.monthly_budget
        left_after = figures.left(obj.monthly_budget, actual)
    else:
        budget_after = budget
        ask = getattr(obj, "max_budget", None) or Decimal(0)
        # If the new key spent all of its budget this month.
        left_after = figures.left(budget, actual) - ask
    return {
        "requester_month_spend": requester_total,
        "dept_budget": budget,
        "dept_actual": actual,
        "dept_left": figures.left(budget, actual),
        "dept_budget_after": budget_after,
        "dept_left_after": left_after,
    }
