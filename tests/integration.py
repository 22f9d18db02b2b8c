"""Fixtures and helpers for tests against the real LiteLLM proxy and a real Celery worker."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from keys.models import VirtualKey
from portal.celery import app as celery_app
from projects.models import TuningProject

from .doubles.langfuse import LangfuseDouble
from .faults import FaultProxy
from .workers import Worker


@pytest.fixture
def litellm(litellm_proxy, settings):
    """Point the portal (and any worker started after this) at the real proxy."""
    settings.LITELLM_BASE_URL = litellm_proxy.base_url
    settings.LITELLM_MASTER_KEY = litellm_proxy.master_key
    settings.LITELLM_PUBLIC_URL = litellm_proxy.base_url
    return litellm_proxy


@pytest.fixture
def fault_proxy(litellm, settings):
    proxy = FaultProxy(litellm.base_url)
    settings.LITELLM_BASE_URL = proxy.url
    yield proxy
    proxy.close()


def start_worker(**extra_env) -> Worker:
    worker = Worker(extra_env).start()
    celery_app.conf.task_default_queue = worker.queue
    return worker


@pytest.fixture
def langfuse(settings):
    """The Langfuse double, with the portal pointed at it; fails on any OpenAPI violation."""
    double = LangfuseDouble().start()
    settings.LANGFUSE_HOST = double.url
    settings.LANGFUSE_ORG_PUBLIC_KEY = double.org_public_key
    settings.LANGFUSE_ORG_SECRET_KEY = double.org_secret_key
    yield double
    double.stop()
    errors = double.take_errors()
    assert not errors, "Langfuse double saw OpenAPI violations:\n" + "\n".join(errors)


@pytest.fixture
def worker(litellm, transactional_db):
    started = start_worker()
    yield started
    started.stop()
    celery_app.conf.task_default_queue = "portal"


def wait_for(predicate, timeout: float = 60, interval: float = 0.25, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(message or f"condition not met in {timeout} s")


def wait_for_row(model, pk: int, predicate, timeout: float, worker: Worker | None, want=""):
    """The request once ``predicate(row)`` holds; else a failure with its state, its steps
    (tuning projects) and the end of the worker's log."""

    def check():
        row = model.objects.get(pk=pk)
        return row if predicate(row) else None

    try:
        return wait_for(check, timeout)
    except AssertionError:
        row = model.objects.get(pk=pk)
        steps = f", steps {row.steps}" if hasattr(row, "steps") else ""
        log = worker.output()[-4000:] if worker else ""
        raise AssertionError(
            f"{model._meta.model_name} {pk} is {row.status} ({row.last_error}){want}{steps}\n{log}"
        ) from None


def wait_for_status(
    key_id: int, status: str, timeout: float = 60, worker: Worker | None = None
) -> VirtualKey:
    return wait_for_row(
        VirtualKey, key_id, lambda k: k.status == status, timeout, worker, f", not {status}"
    )


def wait_project(project_id: int, predicate, worker: Worker, timeout: float = 60) -> TuningProject:
    return wait_for_row(TuningProject, project_id, predicate, timeout, worker)


def wait_project_status(project_id: int, status, worker: Worker, timeout: float = 60):
    return wait_project(project_id, lambda p: p.status == status, worker, timeout)


KEY_REQUEST = {
    "name": "support-bot",
    "kind": "personal",
    "llm_models": ["gpt-4o-mini"],
    "max_budget": "5",
    "budget_duration": "30d",
    "rpm_limit": "50",
    "tpm_limit": "100000",
    "lifetime_days": "30",
    "justification": "Support assistant prototype.",
}

PROJECT_REQUEST = {
    "name": "rag-eval",
    "purpose": "Evaluate the retrieval agent.",
    "lifetime_days": "14",
    "retention_days": "7",
    "justification": "Tuning before the pilot.",
}


def request_and_approve(client, org, kind: str, form: dict, **overrides):
    """``dev_a`` requests in department ``a`` (kind ``keys`` or ``projects``), ``lead_a``
    approves; the client is ``dev_a`` again after."""
    model = {"keys": VirtualKey, "projects": TuningProject}[kind]
    client.force_login(org["dev_a"])
    response = client.post(f"/{kind}/request/", {**form, "department": org["a"].pk, **overrides})
    assert response.status_code == 302, response.content.decode()[:3000]
    obj = model.objects.latest("pk")
    client.force_login(org["lead_a"])
    response = client.post(f"/approvals/{kind}/{obj.pk}/", {"decision": "approve"})
    assert response.status_code == 302
    client.force_login(org["dev_a"])
    return obj


def reveal_key(client, key) -> str:
    """The key's secret from its one reveal."""
    html = client.post(f"/keys/{key.pk}/reveal/").content.decode()
    match = re.search(r'<pre id="secret">(sk-[^<]+)</pre>', html)
    assert match, html[:2000]
    return match.group(1)


def chat(base_url: str, secret: str, model: str = "gpt-4o-mini") -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": model, "messages": [{"role": "user", "content": "Hello"}]},
        timeout=30,
    )


def keys_with_alias(litellm_proxy, alias: str) -> list[dict]:
    response = httpx.get(
        f"{litellm_proxy.base_url}/key/list",
        params={"key_alias": alias, "return_full_object": "true"},
        headers={"Authorization": f"Bearer {litellm_proxy.master_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return [k for k in response.json()["keys"] if k.get("key_alias") == alias]
