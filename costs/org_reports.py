"""The organisation's cost figures (infra): tables by department, cost centre, model, provider
and unattributed spend, and the chargeback. Built for the org page, its CSVs and the API."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from portal.days import utc_month_start
from tenants.models import Department

from . import forecast, langfuse_costs, periods
from .models import MonthlySpend, TeamDaySpend
from .reports import METRIC_COLUMNS, chain, metrics, tokens, total
from .tables import Column, LazyRows, Table, with_percent


def org_tables(month: datetime.date, today: datetime.date) -> dict[str, Table]:
    prev = periods.add_months(month, -1)
    same_days: dict | None = None  # department id → last month's spend, same days; read once

    def previous_same_days(department_id):
        nonlocal same_days
        if same_days is None:
            same_days = forecast.previous_to_date(
                TeamDaySpend.objects.all(), month, today, group_by="department"
            )
        return same_days.get(department_id) or Decimal(0)

    this = MonthlySpend.objects.filter(month=month)
    departments = (
        MonthlySpend.objects.filter(month__in=[month, prev])
        .values("department", "department__name", "department__cost_centre")
        .annotate(
            # "spend" and friends last: an alias named like a field hides the field after it.
            budget=F("department__monthly_budget"),
            previous=total("spend", month=prev),
            unattributed=total("unattributed_spend", month=month),
            prompt_tokens=Coalesce(Sum("prompt_tokens", filter=Q(month=month)), 0),
            completion_tokens=Coalesce(Sum("completion_tokens", filter=Q(month=month)), 0),
            requests=Coalesce(Sum("requests", filter=Q(month=month)), 0),
            spend=total("spend", month=month),
        )
        .order_by("-spend", "department__name")
    )

    langfuse: dict | None = None  # (department id, month) → counted Langfuse cost; read once

    def dept_row(row):
        nonlocal langfuse
        if langfuse is None:
            langfuse = langfuse_costs.by_department_month(month, periods.next_month(month))
        row["name"] = row.get("department__name") or _("(unmapped LiteLLM teams)")
        row["cost_centre"] = row.get("department__cost_centre") or ""
        row["langfuse"] = langfuse.get((row.get("department"), month), Decimal(0))
        row["total"] = row["spend"] + row["langfuse"]
        # Like for like: the same days of last month, not a whole month against a part.
        row["previous"] = previous_same_days(row.get("department"))
        row["change"] = forecast.change_percent(row["spend"], row["previous"])
        return tokens(row)

    unattributed = (
        this.filter(Q(unattributed_spend__gt=0) | Q(department__isnull=True))
        .values("team_id", "department__name")
        .annotate(
            unattributed=total("unattributed_spend"),
            unmapped=total("spend", department__isnull=True),
        )
        .order_by("-unattributed", "team_id")
    )

    centre_budgets: dict | None = None  # cost centre → its departments' budgets; read once

    def centre_row(row):
        nonlocal centre_budgets
        if centre_budgets is None:
            centre_budgets = {
                r["cost_centre"]: r
                for r in Department.objects.values("cost_centre").annotate(
                    budget=Sum("monthly_budget"), departments=Count("id")
                )
            }
        found = centre_budgets.get(row["cost_centre"]) or {}
        row["budget"] = found.get("budget")
        row["departments"] = found.get("departments", 0)
        return tokens(row)

    def unattributed_row(row):
        row["name"] = row.get("department__name") or _("(no department for this team)")
        row["team_id"] = row.get("team_id") or _("(no team)")
        return row

    return {
        "departments": Table(
            "departments",
            _("By department"),
            [
                Column("name", _("Department")),
                Column("cost_centre", _("Cost centre")),
                *METRIC_COLUMNS,
                Column("langfuse", _("Langfuse (tuning projects) (USD)"), "money"),
                Column("total", _("Total (USD)"), "money"),
                Column("budget", _("Budget (USD)"), "money"),
                Column("pct", _("Budget used"), "pct"),
                Column("previous", _("Same days last month (USD)"), "money"),
                Column("change", _("Change (%)"), "pct"),
                Column("unattributed", _("Unattributed (USD)"), "money"),
            ],
            departments,
            decorate=chain(dept_row, with_percent("budget", "total")),
            note=_(
                "Spend is LiteLLM's; Langfuse (tuning projects) is the tuning projects' Langfuse "
                "cost that LiteLLM has not counted. Budget used is of the total."
            ),
        ),
        "cost_centres": Table(
            "cost_centres",
            _("By cost centre"),
            [
                Column("cost_centre", _("Cost centre")),
                Column("departments", _("Departments"), "int"),
                *METRIC_COLUMNS,
                Column("budget", _("Budget (USD)"), "money"),
                Column("pct", _("Budget used"), "pct"),
            ],
            this.values(cost_centre=Coalesce(F("department__cost_centre"), Value("")))
            .annotate(**metrics())
            .order_by("-spend", "cost_centre"),
            decorate=chain(centre_row, with_percent("budget")),
            note=_(
                "Budget: the monthly budgets of the cost centre's departments together. "
                "Chargeback and FOCUS exports carry the cost centre of every row."
            ),
        ),
        "models": Table(
            "models",
            _("By model"),
            [Column("model", _("Model")), *METRIC_COLUMNS],
            this.values("model").annotate(**metrics()).order_by("-spend", "model"),
            decorate=tokens,
        ),
        "providers": Table(
            "providers",
            _("By provider"),
            [Column("provider", _("Provider")), *METRIC_COLUMNS],
            this.values("provider").annotate(**metrics()).order_by("-spend", "provider"),
            decorate=tokens,
        ),
        "unattributed": Table(
            "unattributed",
            _("Unattributed spend"),
            [
                Column("team_id", _("LiteLLM team")),
                Column("name", _("Department")),
                Column("unattributed", _("Keys not made by the portal (USD)"), "money"),
                Column("unmapped", _("Team not mapped to a department (USD)"), "money"),
            ],
            unattributed,
            decorate=unattributed_row,
        ),
    }


def chargeback_months(request) -> tuple[datetime.date, datetime.date]:
    """``?from=YYYY-MM&to=YYYY-MM``: default the last three months, at most 36."""
    this_month = utc_month_start()
    end = periods.parse_month(request.GET.get("to"), this_month)
    start = periods.parse_month(request.GET.get("from"), periods.add_months(end, -2))
    return max(min(start, end), periods.add_months(end, -35)), end


def chargeback_table(start: datetime.date, end: datetime.date) -> Table:
    """Department × cost centre × month, with the unattributed part of each; and a line of
    its own, source "Langfuse (tuning projects)", for the tuning projects' Langfuse cost that
    LiteLLM has not counted (``costs.langfuse_costs``), after the department's LiteLLM lines."""
    litellm = (
        MonthlySpend.objects.filter(month__gte=start, month__lte=end)
        .values("month", "team_id", "department", "department__name", "department__cost_centre")
        .annotate(**metrics(), unattributed=total("unattributed_spend"))
        .order_by("month", "department__name", "team_id")
    )
    rows = LazyRows(lambda: _with_langfuse_lines(litellm, start, end))

    def row(r):
        r["department"] = r.get("department__name") or _("(unmapped team %(team)s)") % {
            "team": r.get("team_id") or "-"
        }
        r["cost_centre"] = r.get("department__cost_centre") or ""
        return tokens(r)

    return Table(
        "chargeback",
        _("Chargeback"),
        [
            Column("department", "department"),
            Column("cost_centre", "cost_centre"),
            Column("month", "month", "month"),
            Column("spend", "spend", "money"),
            Column("prompt_tokens", "prompt_tokens", "int"),
            Column("completion_tokens", "completion_tokens", "int"),
            Column("tokens", "tokens", "int"),
            Column("requests", "requests", "int"),
            Column("unattributed", "unattributed_spend", "money"),
            Column("source", "source"),
        ],
        rows,
        decorate=row,
    )


LITELLM = "LiteLLM"
LANGFUSE = "Langfuse (tuning projects)"


def _with_langfuse_lines(litellm, start: datetime.date, end: datetime.date) -> list[dict]:
    counted = langfuse_costs.by_department_month(start, periods.next_month(end))
    names = {
        d["pk"]: d
        for d in Department.objects.filter(pk__in={d for d, _m in counted}).values(
            "pk", "name", "cost_centre"
        )
    }

    def line(department_id, month) -> dict:
        d = names[department_id]
        return {
            "month": month,
            "team_id": None,
            "department": department_id,
            "department__name": d["name"],
            "department__cost_centre": d["cost_centre"],
            "spend": counted.pop((department_id, month)),
            "requests": 0,
            "unattributed": Decimal(0),
            "source": LANGFUSE,
        }

    out: list[dict] = []

    def flush(department_id, month, whole_month: bool = False) -> None:
        if (department_id, month) in counted:
            out.append(line(department_id, month))
        if whole_month:  # the month's departments with Langfuse cost and no LiteLLM line
            left = [k for k in counted if k[1] == month]
            out.extend(line(*k) for k in sorted(left, key=lambda k: names[k[0]]["name"]))

    for r in litellm:
        if out and (out[-1]["department"], out[-1]["month"]) != (r["department"], r["month"]):
            flush(out[-1]["department"], out[-1]["month"], out[-1]["month"] != r["month"])
        out.append({**r, "source": LITELLM})
    if out:
        flush(out[-1]["department"], out[-1]["month"], True)
    # Months with Langfuse cost and no LiteLLM spend at all.
    out += [line(*k) for k in sorted(counted, key=lambda k: (k[1], names[k[0]]["name"]))]
    out.sort(key=lambda r: r["month"])  # stable: each month's lines keep their order
    return out
