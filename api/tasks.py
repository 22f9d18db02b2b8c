"""Housekeeping for the API."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import IdempotencyRecord


@shared_task
def purge_idempotency_records() -> int:
    """Forget stored answers older than ``API_IDEMPOTENCY_HOURS`` (a retry after that is new)."""
    cutoff = timezone.now() - datetime.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
