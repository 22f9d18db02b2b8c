"""Langfuse project metrics (traces, observations, tokens and cost per UTC day), read with the
project's own key pair: v2 metrics on Langfuse v4, v1 on v3."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx

from .errors import NotFound, Rejected

MetricsVersion = Literal["v3", "v4"]


@dataclass(frozen=True)
class DailyMetrics:
    """One UTC day of one project's usage."""

    day: date
    traces: int = 0
    observations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal("0")


def _to_int(value: Any) -> int:
    # ClickHouse UInt64 values arrive as strings ("18342").
    if value in (None, ""):
        return 0
    return int(Decimal(str(value)))


def _to_decimal(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal("0")
    return Decimal(str(value))


def _iso(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Milliseconds kept: a window's end at 23:59:59.999 must not drop the day's last second.
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(value: Any) -> date:
    # "2026-08-01T00:00:00.000Z", "2026-08-01 00:00:00" or "2026-08-01".
    return date.fromisoformat(str(value)[:10])


class ProjectMetrics:
    """The metrics calls of :class:`~portal.integrations.langfuse.LangfuseClient` (which
    provides ``_request`` and the ``_metrics_version`` cache)."""

    def metrics_v1(
        self, query: dict[str, Any], public_key: str, secret_key: str
    ) -> list[dict[str, Any]]:
        """Langfuse v3 ``GET /api/public/metrics?query=<json>`` (404 on v4 events-only)."""
        body = self._request(
            "GET",
            "/api/public/metrics",
            params={"query": json.dumps(query, separators=(",", ":"))},
            auth=httpx.BasicAuth(public_key, secret_key),
        )
        return body["data"]

    def metrics_v2(
        self, query: dict[str, Any], public_key: str, secret_key: str
    ) -> list[dict[str, Any]]:
        """Langfuse v4 ``GET /api/public/v2/metrics?query=<json>`` (404 on plain v3)."""
        body = self._request(
            "GET",
            "/api/public/v2/metrics",
            params={"query": json.dumps(query, separators=(",", ":"))},
            auth=httpx.BasicAuth(public_key, secret_key),
        )
        return body["data"]

    def detect_metrics_version(self, public_key: str, secret_key: str) -> MetricsVersion:
        """Try v2 metrics, fall back to v1 on 404. Cached per client and key."""
        if public_key in self._metrics_version:
            return self._metrics_version[public_key]
        now = datetime.now(UTC).replace(microsecond=0)
        probe = {
            "view": "observations",
            "dimensions": [],
            "metrics": [{"measure": "count", "aggregation": "count"}],
            "filters": [],
            "timeDimension": None,
            "fromTimestamp": _iso(now - timedelta(hours=1)),
            "toTimestamp": _iso(now),
            "orderBy": None,
        }
        version: MetricsVersion
        try:
            self.metrics_v2(probe, public_key, secret_key)
            version = "v4"
        except NotFound as v2_missing:
            try:
                self.metrics_v1(probe, public_key, secret_key)
            except NotFound:
                # Langfuse v4 in its default events_only mode answers 404 on v1, and serves v2
                # only with LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN=true: a setting, not an
                # outage, so no retry can help.
                raise Rejected(
                    f"Langfuse serves no metrics API ({v2_missing.message}); on Langfuse v4 set "
                    "LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN=true",
                    status=404,
                    service="Langfuse",
                ) from v2_missing
            version = "v3"
        self._metrics_version[public_key] = version
        return version

    def daily_project_metrics(
        self,
        public_key: str,
        secret_key: str,
        from_ts: datetime | date,
        to_ts: datetime | date,
    ) -> list[DailyMetrics]:
        """Per-day traces, observations, tokens and cost of the project owning this key pair."""
        version = self.detect_metrics_version(public_key, secret_key)
        window = {
            "filters": [],
            "dimensions": [],
            "timeDimension": {"granularity": "day"},
            "fromTimestamp": _iso(from_ts),
            "toTimestamp": _iso(to_ts),
            "orderBy": None,
            "config": {"row_limit": 1000},
        }
        usage = [
            {"measure": "count", "aggregation": "count"},
            {"measure": "inputTokens", "aggregation": "sum"},
            {"measure": "outputTokens", "aggregation": "sum"},
            {"measure": "totalTokens", "aggregation": "sum"},
            {"measure": "totalCost", "aggregation": "sum"},
        ]
        days: dict[date, dict[str, Any]] = {}
        if version == "v4":
            query = {
                "view": "observations",
                "metrics": [*usage, {"measure": "traceId", "aggregation": "uniq"}],
                **window,
            }
            rows = self.metrics_v2(query, public_key, secret_key)
            for row in rows:
                days.setdefault(_day(row["time_dimension"]), {}).update(
                    row, traces=row.get("uniq_traceId")
                )
        else:
            obs = self.metrics_v1(
                {"view": "observations", "metrics": usage, **window}, public_key, secret_key
            )
            traces = self.metrics_v1(
                {
                    "view": "traces",
                    "metrics": [{"measure": "count", "aggregation": "count"}],
                    **window,
                },
                public_key,
                secret_key,
            )
            for row in obs:
                days.setdefault(_day(row["time_dimension"]), {}).update(row)
            for row in traces:
                days.setdefault(_day(row["time_dimension"]), {})["traces"] = row.get("count_count")
        return [
            DailyMetrics(
                day=day,
                traces=_to_int(row.get("traces")),
                observations=_to_int(row.get("count_count")),
                input_tokens=_to_int(row.get("sum_inputTokens")),
                output_tokens=_to_int(row.get("sum_outputTokens")),
                total_tokens=_to_int(row.get("sum_totalTokens")),
                cost=_to_decimal(row.get("sum_totalCost")),
            )
            for day, row in sorted(days.items())
        ]
