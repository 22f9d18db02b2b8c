"""CSV exports that are not one of a dashboard's tables."""

from __future__ import annotations

from tenants.access import infra_required

from ..org_reports import chargeback_months, chargeback_table
from ..tables import csv_response


@infra_required
def chargeback(request):
    """Org-wide chargeback: department × cost centre × month (``?from=YYYY-MM&to=YYYY-MM``)."""
    start, end = chargeback_months(request)
    return csv_response(chargeback_table(start, end), f"chargeback-{start:%Y-%m}-{end:%Y-%m}.csv")
