"""Costs: me, department, org (tables per month, daily and monthly series) and the chargeback,
as JSON or CSV. The tables, series and CSVs are the cost pages' own (``costs.reports``)."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja import Query, Router
from ninja.errors import HttpError

from costs import exports, periods, reports
from costs.models import MonthlySpend, TeamDaySpend
from costs.org_reports import chargeback_months, chargeback_table, org_tables
from costs.tables import csv_response
from tenants.access import department_for_lead
from tenants.models import Department

from ..common import RIGHT_COSTS, people_only, require_right
from ..schemas import CostTableOut, SeriesOut

router = Router(tags=["costs"])
FORMAT = Query("json", pattern="^(json|csv)$")
MONTH = Query(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (default: this month)")
CSV = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


def _month(request) -> dict:
    """``reports.month_context``; a month that has not started is a 400."""
    try:
        return reports.month_context(request)
    except periods.FutureMonth as exc:
        raise HttpError(400, f"{exc} has not started: no spend yet.") from exc


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _answer(tables: dict, table: str, ctx: dict, prefix: str, fmt: str):
    if table not in tables:
        raise Http404
    chosen = tables[table]
    if fmt == "csv":
        return csv_response(chosen, f"{prefix}-{table}-{ctx['month']:%Y-%m}.csv")
    keys = [c.key for c in chosen.columns]
    rows = [{k: _json(row.get(k)) for k in keys} for row in chosen.iter_all()]
    return {"month": ctx["month_value"], "table": table, "columns": keys, "rows": rows}


def _department(request, slug: str) -> Department:
    """Leads of the department and infra; a service identity with the right: its own."""
    who = require_right(request, RIGHT_COSTS)
    if who.service is not None:
        if who.service.department.slug != slug:
            raise Http404
        return who.service.department
    return department_for_lead(request.user, slug)


@router.get("/me", response=CostTableOut, summary="My spend this month", openapi_extra=CSV)
def my_costs(
    request,
    month: str | None = MONTH,
    table: str = Query("keys", pattern="^(keys|models)$"),
    format: str = FORMAT,  # noqa: A002
):
    require_right(request, RIGHT_COSTS)
    ctx = _month(request)
    tables = reports.mine_tables(request.user, ctx["month"])
    return _answer(tables, table, ctx, "my-spend", format)


@router.get("/me/daily", response=SeriesOut, summary="My spend per day")
def my_daily(request, month: str | None = MONTH):
    require_right(request, RIGHT_COSTS)
    ctx = _month(request)
    series = reports.daily_series(reports.mine_daily(request.user, ctx["month"]), ctx["month"])
    return {"month": ctx["month_value"], "series": series}


@router.get(
    "/departments/{slug}",
    response=CostTableOut,
    summary="A department's spend this month",
    openapi_extra=CSV,
)
def department_costs(
    request,
    slug: str,
    month: str | None = MONTH,
    table: str = Query("members", pattern="^(members|top|models|tags|keys|near)$"),
    format: str = FORMAT,  # noqa: A002
):
    dept = _department(request, slug)
    ctx = _month(request)
    tables = reports.department_tables(dept, ctx["month"])
    return _answer(tables, table, ctx, dept.slug, format)


@router.get("/departments/{slug}/daily", response=SeriesOut, summary="Department per day")
def department_daily(request, slug: str, month: str | None = MONTH):
    dept = _department(request, slug)
    ctx = _month(request)
    series = reports.daily_series(TeamDaySpend.objects.filter(department=dept), ctx["month"])
    return {"month": ctx["month_value"], "series": series}


@router.get("/departments/{slug}/monthly", response=SeriesOut, summary="Department per month")
def department_monthly(request, slug: str, month: str | None = MONTH):
    """The last twelve months up to ``month``, and the department's budget."""
    dept = _department(request, slug)
    ctx = _month(request)
    trend, _actual = reports.trend(MonthlySpend.objects.filter(department=dept), ctx["month"])
    return {"month": ctx["month_value"], "series": trend}


def _infra(request) -> None:
    require_right(request, RIGHT_COSTS)
    if not request.user.is_infra:
        raise PermissionDenied


@router.get("/org", response=CostTableOut, summary="Organisation spend (infra)", openapi_extra=CSV)
def org_costs(
    request,
    month: str | None = MONTH,
    table: str = Query(
        "departments", pattern="^(departments|cost_centres|models|providers|unattributed)$"
    ),
    format: str = FORMAT,  # noqa: A002
):
    _infra(request)
    ctx = _month(request)
    return _answer(org_tables(ctx["month"], ctx["today"]), table, ctx, "org", format)


@router.get("/org/monthly", response=SeriesOut, summary="Organisation per month (infra)")
def org_monthly(request, month: str | None = MONTH):
    _infra(request)
    ctx = _month(request)
    trend, _actual = reports.trend(MonthlySpend.objects.all(), ctx["month"])
    return {"month": ctx["month_value"], "series": trend}


@router.get(
    "/chargeback",
    response=list[dict],
    summary="Chargeback per department, cost centre and month (infra)",
    openapi_extra=CSV,
)
def chargeback(
    request,
    from_: str | None = Query(None, alias="from", pattern=r"^\d{4}-\d{2}$"),
    to: str | None = Query(None, pattern=r"^\d{4}-\d{2}$"),
    format: str = FORMAT,  # noqa: A002
):
    """The page's chargeback CSV; as JSON, the same rows (money as strings)."""
    _infra(request)
    start, end = chargeback_months(request)
    table = chargeback_table(start, end)
    reply = csv_response(table, f"chargeback-{start:%Y-%m}-{end:%Y-%m}.csv")
    if format == "csv":
        return reply
    text = b"".join(reply.streaming_content).decode("utf-8-sig")  # the CSV starts with a BOM
    return list(csv.DictReader(io.StringIO(text)))


FOCUS = {
    "responses": {
        200: {
            "description": "A FOCUS 1.2 dataset (one row per day, key and model).",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "contentEncoding": "base64"}
                },
            },
        }
    }
}
FOCUS_FORMAT = Query("csv", pattern="^(csv|parquet)$")
MONTH_RANGE = {"pattern": r"^\d{4}-\d{2}$"}


@router.get("/focus", summary="FOCUS export of the organisation (infra)", openapi_extra=FOCUS)
def org_focus(
    request,
    from_: str | None = Query(None, alias="from", **MONTH_RANGE),
    to: str | None = Query(None, **MONTH_RANGE),
    format: str = FOCUS_FORMAT,  # noqa: A002
):
    """The cost pages' FOCUS export (``from``/``to``: months, default last month)."""
    _infra(request)
    return exports.org_focus(request, format)


@router.get(
    "/departments/{slug}/focus",
    summary="FOCUS export of a department (its leads, infra)",
    openapi_extra=FOCUS,
)
def department_focus(
    request,
    slug: str,
    from_: str | None = Query(None, alias="from", **MONTH_RANGE),
    to: str | None = Query(None, **MONTH_RANGE),
    format: str = FOCUS_FORMAT,  # noqa: A002
):
    people_only(request)
    return exports.department_focus(request, slug, format)
