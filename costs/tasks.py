"""Celery tasks: spend ingestion from LiteLLM and budget alerts."""

from __future__ import annotations

import datetime
import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals.tasks import retry_countdown, run_provisioning
from catalogue.services import deployment_groups
from portal.days import utc_today
from portal.integrations.errors import Unavailable

from . import (
    alerts,
    anomalies,
    budgets,
    completeness,
    litellm_source,
    member_budgets,
    model_groups,
)
from .ingest import IngestResult, upsert_daily
from .models import IngestionState

log = logging.getLogger(__name__)

SOURCE = "litellm"
CHUNK_DAYS = 7


def reread_days() -> int:
    return int(getattr(settings, "COSTS_REREAD_DAYS", 3))


def run_ingestion(days: int | None = None, *, end: datetime.date | None = None) -> IngestResult:
    """Read the last ``days`` UTC days (today included) from LiteLLM and upsert them.

    Long windows (backfill) are read in chunks of a week so memory stays flat. Rows are by
    model group; rows stored under a provider model are renamed first, and those of the days
    read replaced (``costs.model_groups``). The state row records the outcome; an error is
    recorded and raised again.
    """
    days = days or reread_days()
    end = end or utc_today()
    start = end - datetime.timedelta(days=days - 1)
    state, _ = IngestionState.objects.get_or_create(source=SOURCE)
    state.last_run_at = timezone.now()
    state.save(update_fields=["last_run_at"])
    began = time.monotonic()
    total = IngestResult()
    pages = 0
    try:
        groups = deployment_groups()
        model_groups.rename_stored(groups)
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(chunk_start + datetime.timedelta(days=CHUNK_DAYS - 1), end)
            superseded: dict[datetime.date, set[str]] = {}
            rows, read = litellm_source.fetch_rows(chunk_start, chunk_end, superseded=superseded)
            teamless, read_more = completeness.fetch_teamless_rows(
                chunk_start, chunk_end, known=rows, superseded=superseded
            )
            rows = model_groups.by_group(rows + teamless, groups)
            pages += read + read_more
            with transaction.atomic():  # no moment where a day's spend is under neither name
                model_groups.drop_superseded(superseded, rows)
                result = upsert_daily(rows)
            total.rows += result.rows
            total.months |= result.months
            total.teams |= result.teams
            chunk_start = chunk_end + datetime.timedelta(days=1)
    except Exception as exc:
        state.last_failure_at = timezone.now()
        state.last_error = str(exc)[:2000]
        state.save(update_fields=["last_failure_at", "last_error"])
        log.exception("spend ingestion failed", extra={"start": str(start), "end": str(end)})
        raise
    state.last_success_at = timezone.now()
    state.last_error = ""
    state.window_start, state.window_end = start, end
    state.rows_upserted = total.rows
    state.pages_read = pages
    state.duration_ms = int((time.monotonic() - began) * 1000)
    state.total_rows_upserted += total.rows
    state.save()
    log.info("spend ingested", extra={"rows": total.rows, "pages": pages, "days": days})
    return total


@shared_task(acks_late=True)
def ingest_spend(days: int | None = None) -> int:
    """Beat: re-read the last few days of LiteLLM spend, then check budgets."""
    try:
        result = run_ingestion(days)
    except litellm_source.SourceError:
        return 0  # recorded on IngestionState; the next run re-reads the same days
    check_budgets.delay()
    detect_anomalies.delay()
    return result.rows


@shared_task(acks_late=True)
def check_budgets() -> int:
    """Fire budget alerts (each threshold once per period)."""
    return len(alerts.evaluate())


@shared_task(acks_late=True)
def detect_anomalies() -> int:
    """Record and announce yesterday's spend anomalies (each subject and day once)."""
    return len(anomalies.detect())


@shared_task(bind=True, acks_late=True, max_retries=None)
def apply_budget_request(self, budget_request_id: int) -> None:
    """Apply an approved budget request: the department's budget, then LiteLLM's."""
    from .models import BudgetRequest

    run_provisioning(self, BudgetRequest, budget_request_id, budgets.apply)


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_department_budget(self, department_id: int) -> str:
    """After infra edits a budget: LiteLLM enforces the new one. Retried while it is down."""
    from tenants.models import Department

    try:
        return budgets.push_to_litellm(Department.objects.get(pk=department_id))
    except Unavailable as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task(bind=True, acks_late=True, max_retries=None)
def push_member_budget(self, department_id: int, user_id: int) -> str:
    """After a lead sets a member budget: LiteLLM enforces it (hard) or forgets it (soft)."""
    try:
        return member_budgets.push(department_id, user_id)
    except Unavailable as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task(acks_late=True)
def cross_check_aggregates() -> int:
    """Daily: yesterday's biggest keys, aggregates against spend logs; returns mismatches."""
    yesterday = utc_today() - datetime.timedelta(days=1)
    return sum(not c.matches for c in completeness.cross_check([yesterday]))
