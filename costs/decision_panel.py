"""Money beside a decision: the requester's spend this month, and the department's budget
left now and after this request. Registered with the approval page by ``CostsConfig``."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from portal.days import utc_month_start

from . import langfuse_costs
from .models import BudgetRequest, MonthlyKeySpend, MonthlySpend


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
    requester_total = MonthlyKeySpend.objects.filter(
        month=month, key__requester_id=obj.requester_id
    ).aggregate(total=Sum("spend"))["total"] or Decimal(0)
    dept = obj.department
    actual = MonthlySpend.objects.filter(month=month, department=dept).aggregate(
        total=Sum("spend")
    )["total"] or Decimal(0)
    # The tuning projects' Langfuse cost LiteLLM has not counted is part of the actual.
    actual += langfuse_costs.department_month(dept, month)[1]
    budget = dept.monthly_budget or Decimal(0)
    if isinstance(obj, BudgetRequest):
        budget_after = obj.monthly_budget
        left_after = obj.monthly_budget - actual
    else:
        budget_after = budget
        ask = getattr(obj, "max_budget", None) or Decimal(0)
        left_after = budget - actual - ask  # if the new key spent all of its budget this month
    return {
        "requester_month_spend": requester_total,
        "dept_budget": budget,
        "dept_actual": actual,
        "dept_left": budget - actual,
        "dept_budget_after": budget_after,
        "dept_left_after": left_after,
    }
