"""Helpers for tests against the real Langfuse (fixtures in ``tests/langfuse_server.py``):
point the portal and its workers at a server, send traces with Langfuse's own Python SDK, and
read back what Langfuse stored."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import uuid
from typing import Any

import httpx
import pytest

from portal.integrations.langfuse import LangfuseClient

from .langfuse_server import LangfuseServer
from .litellm_proxy import LITELLM_VENV

#: Sent with the langfuse SDK (installed in LiteLLM's venv for LiteLLM's callback) over OTLP.
SEND_TRACE = """
import json, sys
from langfuse import Langfuse
a = json.load(sys.stdin)
lf = Langfuse(public_key=a["pk"], secret_key=a["sk"], host=a["host"], flush_at=1)
with lf.start_as_current_observation(
    name=a["name"], as_type="generation", model="gpt-4o-mini", input="Hello",
    usage_details={"input": a["input"], "output": a["output"]},
    cost_details={"total": a["cost"]},
) as generation:
    generation.update(output="Hello from the test")
    trace_id = lf.get_current_trace_id()
lf.flush()
lf.shutdown()
print(json.dumps({"trace_id": trace_id}))
"""


def server_env(server: LangfuseServer) -> dict[str, str]:
    """Settings for a worker subprocess to talk to this server with the test organisation."""
    assert server.org is not None
    return {
        "LANGFUSE_HOST": server.url,
        "LANGFUSE_ORG_PUBLIC_KEY": server.org.public_key,
        "LANGFUSE_ORG_SECRET_KEY": server.org.secret_key,
    }


def point_settings(settings, server: LangfuseServer) -> None:
    for name, value in server_env(server).items():
        setattr(settings, name, value)


def org_client(server: LangfuseServer) -> LangfuseClient:
    assert server.org is not None
    return LangfuseClient(server.url, server.org.public_key, server.org.secret_key, timeout=60)


def send_trace(
    host: str,
    public_key: str,
    secret_key: str,
    *,
    name: str = "portal-test",
    input_tokens: int = 100,
    output_tokens: int = 20,
    cost: float = 0.0015,
) -> str:
    """One trace with one generation, sent by Langfuse's Python SDK; returns the trace id."""
    args = {
        "pk": public_key, "sk": secret_key, "host": host, "name": name,
        "input": input_tokens, "output": output_tokens, "cost": cost,
    }  # fmt: skip
    result = subprocess.run(  # noqa: S603
        [str(LITELLM_VENV / "bin" / "python"), "-c", SEND_TRACE],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])["trace_id"]


def send_spans(host: str, public_key: str, secret_key: str, starts: list[float]) -> None:
    """One generation per start time (epoch seconds), each 0.1 s long, over OTLP/HTTP JSON as an
    OpenTelemetry exporter sends them: the way to place an observation at an exact moment.
    ``x-langfuse-ingestion-version: 4`` asks for the events table's direct write, as the v4
    SDKs do, so the metrics view counts them without the dual write's propagation delay."""
    spans = [
        {
            "traceId": uuid.uuid4().hex,
            "spanId": uuid.uuid4().hex[:16],
            "name": "boundary",
            "kind": 1,
            "startTimeUnixNano": str(int(start * 1e9)),
            "endTimeUnixNano": str(int((start + 0.1) * 1e9)),
            "attributes": [
                {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            ],
            "status": {},
        }
        for start in starts
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [{"scope": {"name": "portal-tests"}, "spans": spans}],
            }
        ]
    }
    response = httpx.post(
        f"{host}/api/public/otel/v1/traces",
        json=body,
        headers={"x-langfuse-ingestion-version": "4"},
        auth=(public_key, secret_key),
        timeout=60,
    )
    assert response.status_code in (200, 207), response.text


def observations(
    host: str, public_key: str, secret_key: str, **params: Any
) -> list[dict[str, Any]]:
    """``GET /api/public/v2/observations`` with a project key (Langfuse v4's read API)."""
    response = httpx.get(
        f"{host}/api/public/v2/observations",
        params={"fields": "core,basic,usage,model", "limit": 1000, **params},
        auth=(public_key, secret_key),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_observations(
    host: str, public_key: str, secret_key: str, *, count: int = 1, timeout: float = 120, **params
) -> list[dict[str, Any]]:
    """Wait until Langfuse has ingested (web -> S3 -> queue -> worker -> ClickHouse) ``count``."""
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = observations(host, public_key, secret_key, **params)
        if len(found) >= count:
            return found
        time.sleep(1)
    pytest.fail(f"{len(found)} of {count} observations arrived in {timeout:.0f} s ({params})")


def counted_observations(
    host: str, public_key: str, secret_key: str, *, around: float | None = None
) -> int:
    """How many observations Langfuse's own metrics view counts for the key's project within two
    days of ``around`` (epoch seconds; now by default), asked directly
    (``GET /api/public/v2/metrics``), not through the portal's client."""
    now = time.time() if around is None else around
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))  # noqa: E731
    query = {
        "view": "observations",
        "dimensions": [],
        "metrics": [{"measure": "count", "aggregation": "count"}],
        "filters": [],
        "timeDimension": None,
        "fromTimestamp": stamp(now - 2 * 86400),
        "toTimestamp": stamp(now + 86400),
        "orderBy": None,
    }
    response = httpx.get(
        f"{host}/api/public/v2/metrics",
        params={"query": json.dumps(query)},
        auth=(public_key, secret_key),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return sum(int(row.get("count_count") or 0) for row in response.json()["data"])


def wait_counted(
    host: str,
    public_key: str,
    secret_key: str,
    *,
    count: int,
    around: float | None = None,
    timeout: float = 120,
) -> None:
    """Wait until Langfuse's metrics view counts ``count`` observations. Its events table can
    lag the observations a read API already returns, so a test that pulls metrics waits for
    the metrics themselves, not for the observations."""
    deadline = time.monotonic() + timeout
    counted = 0
    while time.monotonic() < deadline:
        counted = counted_observations(host, public_key, secret_key, around=around)
        if counted >= count:
            return
        time.sleep(1)
    pytest.fail(f"Langfuse's metrics counted {counted} of {count} observations in {timeout:.0f} s")


def utc_day_of(rows: list[dict[str, Any]]) -> datetime.date:
    """The UTC day the observations started on (one day: a test sends them together)."""
    [day] = {datetime.datetime.fromisoformat(row["startTime"]).astimezone(datetime.UTC).date()
             for row in rows}  # fmt: skip
    return day


def usage_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Langfuse's own numbers from its observation rows: what the metrics pull must match."""

    def usage(row, *names):
        details = row.get("usageDetails") or {}
        for name in names:
            if name in details:
                return int(details[name])
        return 0

    return {
        "traces": len({row["traceId"] for row in rows}),
        "observations": len(rows),
        "input_tokens": sum(usage(r, "input") for r in rows),
        "output_tokens": sum(usage(r, "output") for r in rows),
        "total_tokens": sum(usage(r, "total") for r in rows),
        "cost": sum(float(r.get("totalCost") or 0) for r in rows),
    }
