"""Soft budgets: alert-only monthly budgets for a department, one of its models or its keys.

They never reach LiteLLM (hard budgets do: the department's team budget, a key's budget, an
enforced member budget). ``budget_vs_actual`` is the lead's table; ``candidates`` feeds
``costs.alerts`` so a soft budget alerts like a hard one (80 %, 100 %, forecast over budget).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from portal import audit
from tenants.models import Department, User

from . import periods, tags
from .models import MonthlyKeySpend, MonthlySpend, SoftBudget

SOFT_BUDGET_SET = audit.action("costs.soft_budget_set")


@transaction.atomic
def set_soft_budget(
    department: Department,
    scope: str,
    amount: Decimal | None,
    *,
    model: str = "",
    tag: str = "",
    key=None,
    actor: User | None,
    request=None,
) -> SoftBudget | None:
    """Set (or, with no amount or 0, remove) one soft budget. Audited."""
    subject = SoftBudget.subject_for(department.pk, scope, model, key.pk if key else None, tag)
    current = SoftBudget.objects.select_for_update().filter(subject=subject).first()
    before = {"monthly_budget": current.monthly_budget} if current else None
    if not amount:
        if current:
            current.delete()
        obj, after = None, None
    else:
        obj = current or SoftBudget(
            department=department, scope=scope, model=model, tag=tag, key=key, subject=subject
        )
        obj.monthly_budget = amount
        obj.save()
        after = {"monthly_budget": obj.monthly_budget}
    audit.record(
        SOFT_BUDGET_SET,
        obj or current,
        actor=actor,
        request=request,
        before=before,
        after=after,
        department_id=department.pk,
        object_repr=subject,
    )
    return obj


@dataclass
class Line:
    budget: SoftBudget
    label: str
    actual: Decimal
    pct: int | None


def _actuals(budgets: list[SoftBudget], month: datetime.date) -> dict[str, Decimal]:
    if not budgets:
        return {}  # most departments have none: no queries
    dept_ids = {b.department_id for b in budgets}
    by_dept = dict(
        MonthlySpend.objects.filter(month=month, department__in=dept_ids)
        .values_list("department")
        .annotate(s=Sum("spend"))
    )
    by_model = {
        (d, m): s
        for d, m, s in MonthlySpend.objects.filter(month=month, department__in=dept_ids)
        .values_list("department", "model")
        .annotate(s=Sum("spend"))
    }
    by_tag = (
        tags.actual_by_tag(dept_ids, month)
        if any(b.scope == SoftBudget.Scope.TAG for b in budgets)
        else {}
    )
    key_ids = [b.key_id for b in budgets if b.key_id]
    by_key = dict(
        MonthlyKeySpend.objects.filter(month=month, key__in=key_ids)
        .values_list("key")
        .annotate(s=Sum("spend"))
    )
    out = {}
    for b in budgets:
        if b.scope == SoftBudget.Scope.MODEL:
            value = by_model.get((b.department_id, b.model))
        elif b.scope == SoftBudget.Scope.TAG:
            value = by_tag.get((b.department_id, b.tag))
        elif b.scope == SoftBudget.Scope.KEY:
            value = by_key.get(b.key_id)
        else:
            value = by_dept.get(b.department_id)
        out[b.subject] = value or Decimal(0)
    return out


def budget_vs_actual(department: Department, month: datetime.date) -> list[Line]:
    budgets = list(SoftBudget.objects.filter(department=department).select_related("key"))
    actual = _actuals(budgets, month)
    lines = []
    for b in budgets:
        label = {"model": b.model, "tag": b.tag, "key": b.key.name if b.key else ""}.get(
            b.scope, ""
        )
        spent = actual[b.subject]
        lines.append(Line(b, label, spent, periods.percent(spent, b.monthly_budget)))
    return lines


def candidates(today: datetime.date, crossed, month_forecast) -> list:
    """Alert candidates for every soft budget this month (``crossed`` is alerts._crossed,
    ``month_forecast`` alerts.month_forecast: the dashboards' forecast)."""
    month = periods.month_start(today)
    budgets = list(SoftBudget.objects.filter(monthly_budget__gt=0))
    actual = _actuals(budgets, month)
    previous = _actuals(budgets, periods.add_months(month, -1))
    found = []
    for b in budgets:
        spend = actual[b.subject]
        fc = month_forecast(spend, today, previous[b.subject] or None)
        found += crossed(
            b.scope, b.subject, month, b.department_id, spend, fc, b.monthly_budget, key_id=b.key_id
        )
    return found
