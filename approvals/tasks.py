"""Periodic approval jobs (celery-beat): SLAs and access reviews."""

from __future__ import annotations

import datetime

from celery import shared_task


def _when(now: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(now) if now else None


@shared_task
def sweep_slas(now: str | None = None) -> dict:
    """``now`` (ISO 8601) lets a test or a replay set the clock; the schedule passes none."""
    from . import sla

    return sla.sweep(_when(now))


@shared_task
def sweep_reviews(now: str | None = None) -> dict:
    from . import reviews

    return reviews.sweep(_when(now))
