"""Fixtures and helpers for tests against the real LiteLLM proxy and a real Celery worker."""

from __future__ import annotations

import time

import httpx
import pytest

from keys.models import VirtualKey
from portal.celery import app as celery_app

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


def wait_for_status(
    key_id: int, status: str, timeout: float = 60, worker: Worker | None = None
) -> VirtualKey:
    def check():
        key = VirtualKey.objects.get(pk=key_id)
        return key if key.status == status else None

    try:
        return wait_for(check, timeout)
    except AssertionError:
        key = VirtualKey.objects.get(pk=key_id)
        log = worker.output()[-4000:] if worker else ""
        raise AssertionError(
            f"key {key_id} is {key.status} ({key.last_error}), not {status}\n{log}"
        ) from None


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
