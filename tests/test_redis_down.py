"""Redis away (a restart, a failover): pages are served without the cache, a change is saved
and answered as saved, and what it had to enqueue is left to the sweeps and reconcile rather
than turned into an error after the commit."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from costs import tasks
from costs.models import MemberBudget

from .servers import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_away(settings):
    """The cache pointed at a port where nothing listens."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    yield
    cache.close()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_are_served_and_changes_saved_without_the_cache(org, redis_away, caplog):
    caplog.set_level(logging.WARNING, logger="portal.cache")
    assert cache.get("anything", "missed") == "missed"  # a miss, not an error
    lead = signed_in(org["lead_a"])
    for path in ("/", "/keys/", "/approvals/", f"/costs/departments/{org['a'].slug}/"):
        assert lead.get(path).status_code == 200, path
    response = lead.post(
        f"/costs/departments/{org['a'].slug}/member-budget/",
        {"member": org["dev_a"].pk, "monthly_budget": "12.50"},
    )
    assert response.status_code == 302
    assert MemberBudget.objects.get(user=org["dev_a"]).monthly_budget == Decimal("12.50")
    assert "cache unreachable" in caplog.text
    assert cache.add("guard", 1) is False  # nothing was added: a guard refuses
    with pytest.raises(RedisConnectionError):  # a count is never made up
        cache.incr("guard")


def test_a_change_whose_enqueue_fails_is_saved_and_answered_as_saved(
    org, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(tasks.push_member_budget, "delay", broker_down)
    lead = signed_in(org["lead_a"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = lead.post(
            f"/costs/departments/{org['a'].slug}/member-budget/",
            {"member": org["dev_a"].pk, "monthly_budget": "20", "enforced": "on"},
        )
    assert response.status_code == 302
    assert callbacks  # the push was asked for after the commit, and failed there
    budget = MemberBudget.objects.get(user=org["dev_a"])
    assert (budget.monthly_budget, budget.enforced) == (Decimal("20.00"), True)
    assert "Error calling" in caplog.text  # logged by Django's robust on_commit


def test_the_api_is_refused_with_a_retry_while_its_rate_limit_cannot_count(settings):
    from api.throttling import hit

    settings.CACHES = {
        **settings.CACHES,
        "api": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    assert hit("someone", "120/m") == (False, 5.0)


def test_an_approval_whose_enqueue_fails_stands_and_the_sweep_sends_it(
    org, monkeypatch, django_capture_on_commit_callbacks, caplog, settings
):
    from approvals import tasks as approval_tasks
    from keys import tasks as key_tasks
    from keys.models import VirtualKey

    from .approvals_helpers import LEADS, make_policy, submit_key

    make_policy(org["a"], LEADS)
    key = submit_key(org)
    sent = []
    monkeypatch.setattr(key_tasks.provision_key, "delay", lambda *a, **k: sent.append(a) or 1 / 0)
    lead = signed_in(org["lead_a"])
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(f"/approvals/keys/{key.pk}/", {"decision": "approve"})
    assert response.status_code == 302  # answered as done: the approval is committed
    assert VirtualKey.objects.get(pk=key.pk).status == "approved"
    assert sent == [(key.pk,)] and "Error calling" in caplog.text
    monkeypatch.setattr(key_tasks.provision_key, "delay", lambda *a, **k: sent.append(a))
    settings.PROVISION_STALL_SECONDS = 0
    assert approval_tasks.resume_stalled() >= 1
    assert sent[-1] == (key.pk,)


def test_reconcile_asked_for_while_the_broker_is_away_says_so(org, monkeypatch):
    from keys import tasks as key_tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused.")

    monkeypatch.setattr(key_tasks.reconcile_keys, "delay", broker_down)
    infra = signed_in(org["infra"])
    response = infra.post("/operations/reconcile/", follow=True)
    assert response.status_code == 200
    assert "The task queue cannot be reached" in response.content.decode()
