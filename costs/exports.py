"""FOCUS exports: ``focus.csv`` / ``focus.parquet`` for infra (the organisation) and for a lead.

``?from=YYYY-MM&to=YYYY-MM`` (default: last month); at most 12 months per file.
"""

from __future__ import annotations

import datetime
import tempfile

from django.http import FileResponse, Http404, StreamingHttpResponse

from portal.days import utc_month_start
from tenants.access import department_for_lead, infra_required

from . import focus, periods

MAX_MONTHS = 12
FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def _range(request) -> tuple[datetime.date, datetime.date]:
    last_month = periods.add_months(utc_month_start(), -1)
    end = periods.parse_month(request.GET.get("to"), last_month)
    start = periods.parse_month(request.GET.get("from"), end)
    start = max(min(start, end), periods.add_months(end, -(MAX_MONTHS - 1)))
    return start, end


def _response(request, fmt: str, name: str, department=None):
    if fmt not in FORMATS:
        raise Http404
    start, end = _range(request)
    last_day = periods.next_month(end) - datetime.timedelta(days=1)
    data = focus.rows(start, last_day, department=department)
    filename = f"focus-{name}-{start:%Y-%m}-{end:%Y-%m}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(focus.csv_lines(data), content_type=FORMATS[fmt])
    else:
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
        focus.write_parquet(data, spool)
        spool.seek(0)
        response = FileResponse(spool, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@infra_required
def org_focus(request, fmt: str):
    return _response(request, fmt, "org")


def department_focus(request, slug: str, fmt: str):
    dept = department_for_lead(request.user, slug)
    return _response(request, fmt, dept.slug, department=dept)
