"""The cost dashboards: my spend (developer), a department (lead), the organisation (infra).

Every page reads rollups only and every table is paginated or bounded; each exports whole as
CSV at ``<dashboard>/<table>.csv`` with the same permissions as its page. The department's and
the organisation's figures are the same for everyone allowed to see them: rendered once, they
are kept by ``costs.page_cache`` until their data changes.
"""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.html import json_script
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from tenants.access import department_for_lead, infra_required

from .. import completeness, forecast, langfuse_costs, page_cache, periods, reports, soft_budgets
from ..figures import left as budget_left
from ..figures import person_month
from ..forms import BudgetRequestForm
from ..models import BudgetAlert, BudgetRequest, IngestionState, MonthlySpend, TeamDaySpend
from ..org_reports import org_tables
from ..soft_budget_views import SoftBudgetForm
from ..tables import Table, csv_response

MAX_PAGE = 100_000
# Moves whenever what ``_figures`` keeps changes shape: a new release never reads the entries
# an older one left in the shared cache.
FIGURES_FORMAT = 2


def _pages(request, tables) -> dict[str, int]:
    """Each table's page number from the query string (1 when absent or not a number)."""
    pages = {}
    for name in tables:
        value = request.GET.get(f"{name}_page") or ""
        pages[name] = min(int(value), MAX_PAGE) if value.isdigit() and int(value) else 1
    return pages


def _paginate(tables: dict[str, Table], pages: dict[str, int]) -> None:
    for name, table in tables.items():
        table.paginate(pages.get(name, 1))


def _table_partial(request, ctx, tables: dict[str, Table]):
    """htmx asks for one table's other page: that table only."""
    name = request.GET.get("table")
    if not (request.headers.get("HX-Request") and name in tables):
        return None
    _paginate({name: tables[name]}, _pages(request, [name]))
    return render(request, "costs/_table.html", {**ctx, "table": tables[name]})


def _csv(tables: dict[str, Table], table: str, prefix: str, month: datetime.date):
    if table not in tables:
        raise Http404
    return csv_response(tables[table], f"{prefix}-{table}-{month:%Y-%m}.csv")


def _table_only(request, ctx, table: str | None, prefix: str, build_tables):
    """A CSV export, or one table's other page for htmx: the tables alone (``build_tables()``),
    not the page's cached figures. None: the whole page is asked for."""
    if table or request.headers.get("HX-Request") and request.GET.get("table"):
        tables = build_tables()
        if table:
            return _csv(tables, table, prefix, ctx["month"])
        return _table_partial(request, ctx, tables)
    return None


def _figures(request, ctx, kpis: str, parts: tuple, scopes, build) -> dict:
    """The page's figures rendered: ``kpis`` (a template), each table and the chart data as
    HTML fragments for the page to place, kept by ``page_cache`` until their data changes."""

    def render_figures() -> dict:
        figures = build()
        context = {**ctx, **figures, "request": request}
        return {
            "kpis": render_to_string(kpis, context),
            "tables": {
                name: render_to_string("costs/_table.html", {**context, "table": table})
                for name, table in figures["tables"].items()
            },
            "chart": json_script(figures["chart"], "costs-chart-data"),
            "forms": {name: form.as_div() for name, form in figures.get("forms", {}).items()},
            **{k: figures[k] for k in figures.get("keep", ())},
        }

    key = (FIGURES_FORMAT, *parts, ctx["month"], ctx["today"], get_language(), request.path)
    figures = page_cache.cached(key, scopes, render_figures)
    safe = {k: mark_safe(v) for k, v in figures.items() if k in ("kpis", "chart")}  # noqa: S308
    for group in ("tables", "forms"):
        safe[group] = {k: mark_safe(v) for k, v in figures[group].items()}  # noqa: S308
    return {**figures, **safe}


def refuse_future(view):
    """A month that has not started is refused: back to this month, saying why."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except periods.FutureMonth as exc:
            messages.warning(
                request,
                _("%(month)s has not started, so nothing is spent in it yet: this month is shown.")
                % {"month": exc},
            )
            if request.headers.get("HX-Request"):
                return HttpResponse(headers={"HX-Redirect": request.path})
            return redirect(request.path)

    return wrapper


def index(request):
    if request.user.is_infra:
        return redirect("costs_org")
    led = list(request.user.departments_led().order_by("name").values_list("slug", flat=True))
    if len(led) == 1:
        return redirect("costs_department", led[0])
    if led:
        return render(request, "costs/index.html", {"departments": request.user.departments_led()})
    return redirect("costs_mine")


# --- developer: my spend -------------------------------------------------------------------


MINE_TABLES = ("keys", "models")


def mine_figures(user, ctx: dict, pages: dict[str, int]) -> dict:
    """KPIs, chart and tables of my month (what the cache keeps)."""
    month = ctx["month"]
    tables = reports.mine_tables(user, month)
    _paginate(tables, pages)
    base = reports.mine_daily(user, month)
    # Summed unrounded: a call worth USD 0.000093 must not read as zero.
    actual = person_month(user, month)
    figures = {"tables": tables, "today": ctx["today"], "month": month, "actual": actual}
    reports.set_forecast(figures, actual, reports.mine_previous_month(user, month))
    figures["chart"] = {"daily": reports.daily_series(base, month), "budget": None}
    return figures


@refuse_future
def mine(request, table: str | None = None):
    ctx = reports.month_context(request)
    answer = _table_only(
        request, ctx, table, "my-spend", lambda: reports.mine_tables(request.user, ctx["month"])
    )
    if answer is not None:
        return answer
    pages = _pages(request, MINE_TABLES)
    ctx["figures"] = _figures(
        request,
        ctx,
        "costs/_mine_kpis.html",
        ("mine", request.user.pk, *pages.values()),
        page_cache.user_scopes(request.user.pk),
        lambda: mine_figures(request.user, ctx, pages),
    )
    ctx["csv_query"] = f"?month={ctx['month_value']}"
    return render(request, "costs/mine.html", ctx)


# --- lead: one department ------------------------------------------------------------------

DEPARTMENT_TABLES = ("members", "top", "models", "tags", "keys", "near")


def department_figures(dept, ctx: dict, pages: dict[str, int]) -> dict:
    """KPIs, charts and tables of a department's month (what the cache keeps)."""
    month = ctx["month"]
    tables = reports.department_tables(dept, month)
    _paginate(tables, pages)
    trend, litellm = reports.trend(MonthlySpend.objects.filter(department=dept), month)
    daily = reports.daily_series(TeamDaySpend.objects.filter(department=dept), month)
    budget = dept.monthly_budget
    figures = {"tables": tables, "today": ctx["today"], "month": month}
    # Tuning projects' Langfuse cost not already in LiteLLM's spend counts too (this month's
    # and, for the forecast, last month's).
    prev = periods.add_months(month, -1)
    langfuse_days = langfuse_costs.days(prev, periods.next_month(month), dept)
    langfuse = langfuse_costs.total(langfuse_days, month)
    actual = litellm + langfuse
    previous = Decimal(str(trend[-2]["spend"])) + langfuse_costs.total(langfuse_days, prev)
    reports.set_forecast(figures, actual, previous)
    figures.update(
        # The forms' fields (their CSRF token is the page's): the same for every lead.
        forms={
            "soft_budget": SoftBudgetForm(department=dept),
            "budget": BudgetRequestForm(initial={"monthly_budget": budget}),
        },
        actual=actual,
        litellm_actual=litellm,
        langfuse_actual=langfuse,
        budget=budget,
        pct=periods.percent(actual, budget),
        remaining=budget_left(budget, actual) if budget else None,
        chart={
            "trend": trend,
            "daily": langfuse_costs.add_to_daily(daily, langfuse_days),
            "budget": float(budget) if budget else None,
        },
    )
    figures["forecast_pct"] = (
        periods.percent(figures["forecast"], budget) if figures["forecast"] is not None else None
    )
    # The page's other sections: their rows move the same versions (``page_cache``).
    figures["alerts"] = list(
        BudgetAlert.objects.filter(department=dept).select_related("user", "key")[:10]
    )
    figures["langfuse_projects"] = langfuse_costs.per_project(langfuse_days, month)
    figures["langfuse_outside"] = langfuse
    figures["soft_budgets"] = soft_budgets.budget_vs_actual(dept, month)
    figures["budget_requests"] = list(BudgetRequest.objects.filter(department=dept)[:5])
    figures["keep"] = DEPARTMENT_SECTIONS
    return figures


DEPARTMENT_SECTIONS = (
    "alerts", "langfuse_projects", "langfuse_outside", "soft_budgets", "budget_requests",
)  # fmt: skip


@refuse_future
def department(request, slug: str, table: str | None = None):
    dept = department_for_lead(request.user, slug)
    ctx = reports.month_context(request)
    ctx["department"] = dept
    ctx["csv_query"] = f"?month={ctx['month_value']}"
    answer = _table_only(
        request, ctx, table, dept.slug, lambda: reports.department_tables(dept, ctx["month"])
    )
    if answer is not None:
        return answer
    pages = _pages(request, DEPARTMENT_TABLES)
    ctx["figures"] = _figures(
        request,
        ctx,
        "costs/_department_kpis.html",
        ("department", dept.pk, *pages.values()),
        page_cache.department_scopes(dept.pk),
        lambda: department_figures(dept, ctx, pages),
    )
    ctx.update({name: ctx["figures"][name] for name in DEPARTMENT_SECTIONS})
    if request.user.is_lead_of(dept):
        ctx["budget_form"] = ctx["figures"]["forms"]["budget"]  # with budget_requests
    return render(request, "costs/department.html", ctx)


# --- infra: the organisation ---------------------------------------------------------------

ORG_TABLES = ("departments", "cost_centres", "models", "providers", "unattributed")


def org_figures(ctx: dict, pages: dict[str, int]) -> dict:
    month, today = ctx["month"], ctx["today"]
    tables = org_tables(month, today)
    _paginate(tables, pages)
    trend, actual = reports.trend(MonthlySpend.objects.all(), month)
    figures = {"tables": tables, "today": today, "month": month}
    reports.set_forecast(figures, actual, Decimal(str(trend[-2]["spend"])))
    previous = forecast.previous_to_date(TeamDaySpend.objects.all(), month, today)
    figures.update(
        actual=actual,
        previous=previous,
        previous_days=forecast.same_days_last_month(month, today)[1],
        change=forecast.change_percent(actual, previous),
        has_data=any(point["spend"] for point in trend),
        chart={"trend": trend, "budget": None},
        keep=("has_data",),
    )
    return figures


@infra_required
@refuse_future
def org(request, table: str | None = None):
    ctx = reports.month_context(request)
    ctx["csv_query"] = f"?month={ctx['month_value']}"
    answer = _table_only(request, ctx, table, "org", lambda: org_tables(ctx["month"], ctx["today"]))
    if answer is not None:
        return answer
    pages = _pages(request, ORG_TABLES)
    ctx["figures"] = _figures(
        request,
        ctx,
        "costs/_org_kpis.html",
        ("org", *pages.values()),
        page_cache.ORG_SCOPES,
        lambda: org_figures(ctx, pages),
    )
    ctx.update(
        ingestion=list(IngestionState.objects.all()),
        aggregate_checks=completeness.latest_checks(),
        alerts=list(BudgetAlert.objects.select_related("department", "user", "key")[:10]),
        chargeback_from=periods.add_months(ctx["month"], -2).strftime("%Y-%m"),
    )
    return render(request, "costs/org.html", ctx)
