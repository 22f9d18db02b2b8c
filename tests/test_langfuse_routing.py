"""Trace routing end to end: the real LiteLLM proxy, whose ``langfuse`` callback (Langfuse's
Python SDK) sends every call to the production project, and a tuning project that routes one
virtual key's traces to itself for the lease, against the real Langfuse."""

import os
import uuid

import pytest
import yaml

from approvals.lifecycle import Status
from portal.celery import app as celery_app

from .integration import chat, start_worker
from .langfuse_real import (
    observations,
    org_client,
    point_settings,
    server_env,
    usage_totals,
    utc_day_of,
    wait_counted,
    wait_observations,
)
from .litellm_proxy import RUN_SH, LiteLLMProxy
from .servers import database_url, drop_database, start_or_fail
from .test_project_routing import active_key, routed_project, wait_project

pytestmark = [
    pytest.mark.langfuse_real,
    pytest.mark.litellm,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def production(langfuse_server):
    """The organisation's production project: where LiteLLM sends every call by default."""
    lf = org_client(langfuse_server)
    project = lf.create_project(f"production-{uuid.uuid4().hex[:6]}")
    key = lf.create_api_key(project.id, note="litellm proxy")
    yield project, key
    lf.delete_project(project.id)


@pytest.fixture
def traced_proxy(langfuse_server, production, tmp_path, settings, monkeypatch):
    """A LiteLLM proxy with the ``langfuse`` success callback on the production project."""
    _, key = production
    config = yaml.safe_load((RUN_SH.parent / "config.yaml").read_text())
    config.setdefault("litellm_settings", {})["success_callback"] = ["langfuse"]
    path = tmp_path / "litellm-traced.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("LITELLM_CONFIG", str(path))
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", key.public_key)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", key.secret_key)
    monkeypatch.setenv("LANGFUSE_HOST", langfuse_server.url)
    db_url = database_url(f"litellm_traced_{uuid.uuid4().hex[:8]}")
    proxy = LiteLLMProxy(
        database_url=db_url,
        log_dir=tmp_path,
        startup_timeout=float(os.environ.get("LITELLM_TEST_STARTUP_TIMEOUT", "600")),
    )
    start_or_fail(proxy)
    for name in ("LITELLM_CONFIG", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST"):
        monkeypatch.delenv(name)
    settings.LITELLM_BASE_URL = proxy.base_url
    settings.LITELLM_MASTER_KEY = proxy.master_key
    settings.LITELLM_PUBLIC_URL = proxy.base_url
    point_settings(settings, langfuse_server)
    yield proxy
    proxy.stop()
    drop_database(db_url)


@pytest.fixture
def routing_worker(traced_proxy, langfuse_server, transactional_db):
    worker = start_worker(**server_env(langfuse_server))
    yield worker
    worker.stop()
    celery_app.conf.task_default_queue = "portal"


def test_routed_key_traces_go_to_the_tuning_project_until_teardown(
    client, org, langfuse_server, production, traced_proxy, routing_worker
):
    host = langfuse_server.url
    prod_project, prod_key = production
    key = active_key(client, org, routing_worker)

    # Before routing, the key's calls are traced in production.
    assert chat(traced_proxy.base_url, key.revealed_secret).status_code == 200
    wait_observations(host, prod_key.public_key, prod_key.secret_key, count=1)

    project = routed_project(client, org, key)
    project = wait_project(project.pk, lambda p: p.status == Status.ACTIVE, routing_worker, 120)
    assert project.steps["routing"]["result"] == "routed"
    portal_auth = (project.portal_public_key, project.portal_secret())

    for _ in range(2):
        answer = chat(traced_proxy.base_url, key.revealed_secret)
        assert answer.status_code == 200, answer.text
    rows = wait_observations(host, *portal_auth, count=2)
    assert len(rows) == 2
    assert all(r["model"] and "gpt-4o-mini" in r["model"] for r in rows)
    # ... and not in production: production still has only the call from before routing.
    assert len(observations(host, prod_key.public_key, prod_key.secret_key)) == 1

    # Metrics of the tuning project (LiteLLM's tokens and cost) equal Langfuse's own numbers.
    from projects.metrics import pull_metrics
    from projects.models import ProjectMetricsDay

    totals = usage_totals(rows)
    assert totals["total_tokens"] > 0 and totals["cost"] > 0
    wait_counted(host, *portal_auth, count=totals["observations"])
    pull_metrics(project)
    day = ProjectMetricsDay.objects.get(project=project, day=utc_day_of(rows))
    assert (day.traces, day.observations, day.total_tokens) == (
        totals["traces"],
        totals["observations"],
        totals["total_tokens"],
    )
    assert float(day.cost) == pytest.approx(totals["cost"])

    # The lease ends: routing removed, keys and project deleted; the key traces to production.
    assert client.post(f"/projects/{project.pk}/end/").status_code == 302
    project = wait_project(project.pk, lambda p: p.torn_down_at is not None, routing_worker)
    assert project.routed_at is None
    assert project.langfuse_project_id not in {
        p.id for p in org_client(langfuse_server).list_projects()
    }
    assert chat(traced_proxy.base_url, key.revealed_secret).status_code == 200
    wait_observations(host, prod_key.public_key, prod_key.secret_key, count=2)
    assert os.environ.get("LANGFUSE_PUBLIC_KEY") is None  # the proxy's settings did not leak
