"""GET /metrics is for the monitoring system only, and says what the README promises.

The request id test runs a real Celery worker: the id a request came with is on the JSON line
the worker logs while provisioning the key that request approved.
"""

import json
import uuid

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from costs.models import IngestionState
from keys.models import VirtualKey
from portal import metrics
from portal.integrations.errors import Unavailable

from .integration import KEY_REQUEST as REQUEST
from .integration import wait_for, wait_for_status

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def test_metrics_absent_without_a_token_configured(client, settings, db):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
def test_metrics_refused_without_the_token(client, token, db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_" not in response.content


def test_metrics_refused_to_signed_in_users_too(client, token, org):
    client.force_login(org["infra"])  # even infra: scraping is the monitoring system's
    assert client.get("/metrics").status_code == 401


def test_metrics_expose_the_named_series(client, token, org):
    VirtualKey.objects.create(
        requester=org["dev_a"], department=org["a"], name="k", llm_models=[], max_budget=1,
        rpm_limit=1, tpm_limit=1, lifetime_days=7, justification="x", status=Status.SUBMITTED,
    )  # fmt: skip
    IngestionState.objects.create(source="litellm", last_success_at=timezone.now())
    Unavailable("down", service="LiteLLM")
    with metrics.observe_provisioning("virtualkey") as attempt:
        attempt["outcome"] = "failed"
    client.force_login(org["dev_a"])
    assert client.get("/keys/").status_code == 200
    client.logout()

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for series in (
        'django_http_requests_latency_seconds_by_view_method_bucket{le="0.01",method="GET",'
        'view="my_keys"}',
        'portal_provisioning_total{kind="virtualkey",outcome="failed"}',
        'portal_provisioning_duration_seconds_count{kind="virtualkey"}',
        'portal_integration_errors_total{error="Unavailable",service="LiteLLM"}',
        'portal_requests{kind="virtualkey",status="submitted"} 1.0',
        "portal_celery_queue_length{queue=",
        'portal_ingestion_lag_seconds{source="litellm"}',
        'portal_ingestion_last_success_timestamp_seconds{source="litellm"}',
        'portal_ingestion_healthy{source="litellm"} 1.0',
        "portal_celery_tasks_total",
    ):
        assert series in text, series


def test_request_id_follows_the_request_into_the_worker(client, org, litellm, worker):
    client.force_login(org["dev_a"])
    response = client.post("/keys/request/", {**REQUEST, "department": org["a"].pk})
    assert response.status_code == 302
    key = VirtualKey.objects.latest("pk")
    client.force_login(org["lead_a"])
    request_id = uuid.uuid4().hex
    response = client.post(
        f"/approvals/keys/{key.pk}/", {"decision": "approve"}, HTTP_X_REQUEST_ID=request_id
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == request_id
    wait_for_status(key.pk, Status.ACTIVE, worker=worker)

    def provisioned_line():
        for line in worker.output().splitlines():
            if line.startswith("{") and '"key provisioned"' in line:
                return json.loads(line)
        return None

    line = wait_for(provisioned_line, 10, message="no 'key provisioned' JSON line")
    assert line["request_id"] == request_id
    assert line["level"] == "INFO" and line["logger"] == "keys.services" and "ts" in line


def test_a_request_id_that_is_not_a_uuid_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID='x"}\n{"level": "forged')
    assert uuid.UUID(response["X-Request-ID"])  # a fresh one, not the client's text
