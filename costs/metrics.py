"""Figures read when Prometheus scrapes: spend ingestion's last success and lag."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric


def collect() -> Iterable[Metric]:
    from .models import IngestionState

    last = GaugeMetricFamily(
        "portal_ingestion_last_success_timestamp_seconds",
        "When spend ingestion last succeeded (Unix time).",
        labels=["source"],
    )
    lag = GaugeMetricFamily(
        "portal_ingestion_lag_seconds",
        "Seconds since spend ingestion last succeeded.",
        labels=["source"],
    )
    healthy = GaugeMetricFamily(
        "portal_ingestion_healthy",
        "1 when the last ingestion run succeeded, else 0.",
        labels=["source"],
    )
    now = timezone.now()
    for state in IngestionState.objects.all():
        healthy.add_metric([state.source], 1 if state.healthy else 0)
        if state.last_success_at:
            last.add_metric([state.source], state.last_success_at.timestamp())
            lag.add_metric([state.source], (now - state.last_success_at).total_seconds())
    yield from (last, lag, healthy)
