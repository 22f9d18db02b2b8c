"""Helpers for the cost tests (no tests here): spend rows, keys, a LiteLLM response builder."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from decimal import Decimal

import pytest

from portal.integrations.errors import Conflict
from portal.integrations.litellm import LiteLLMClient

DAY = datetime.date(2026, 11, 10)


def row(
    day=DAY,
    team="team-alpha",
    user="oid-dev_a",
    key="hash-a1",
    model="gpt-4o-mini",
    provider="openai",
    spend="1.00",
    prompt=100,
    completion=50,
    requests=2,
    failures=0,
):
    from costs.ingest import SpendRow

    return SpendRow(
        day=day,
        team_id=team,
        user_id=user,
        key_hash=key,
        model=model,
        provider=provider,
        spend=Decimal(spend),
        prompt_tokens=prompt,
        completion_tokens=completion,
        requests=requests,
        successes=requests - failures,
        failures=failures,
    )


def make_key(requester, department, key_hash, **extra):
    from approvals.lifecycle import Status
    from keys.models import VirtualKey

    fields = {
        "requester": requester,
        "department": department,
        "name": f"key-{key_hash}",
        "llm_models": ["gpt-4o-mini"],
        "max_budget": Decimal("50"),
        "budget_duration": "30d",
        "rpm_limit": 30,
        "tpm_limit": 1000,
        "lifetime_days": 30,
        "justification": "because",
        "status": Status.ACTIVE,
        "litellm_key_id": key_hash,
    }
    fields.update(extra)
    return VirtualKey.objects.create(**fields)


@pytest.fixture
def costs_org(org):
    """The org, with both departments mapped to LiteLLM teams and one portal key each."""
    org["a"].litellm_team_id = "team-alpha"
    org["a"].save()
    org["b"].litellm_team_id = "team-beta"
    org["b"].save()
    org["key_a"] = make_key(org["dev_a"], org["a"], "hash-a1")
    org["key_b"] = make_key(org["dev_b"], org["b"], "hash-b1")
    return org


def metrics(spend, prompt=0, completion=0, requests=0, ok=None, failed=0):
    return {
        "spend": spend,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "api_requests": requests,
        "successful_requests": requests - failed if ok is None else ok,
        "failed_requests": failed,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def activity_day(date: str, cells: list[dict]) -> dict:
    """A ``DailySpendData`` as LiteLLM's /team/daily/activity builds it, from flat cells.

    cell: {team, key, user, alias, model, provider, spend, prompt, completion, requests, failed,
    deployment}: ``model`` is the model group, ``deployment`` the provider model behind it
    (``models`` in the breakdown; the group's name where not given).
    """
    bd = {
        "models": {},
        "model_groups": {},
        "providers": {},
        "api_keys": {},
        "entities": {},
        "mcp_servers": {},
        "endpoints": {},
    }

    def add(bucket: dict, name: str, cell: dict, with_keys: bool = True):
        entry = bucket.setdefault(
            name, {"metrics": metrics(0), "metadata": {}, "api_key_breakdown": {}}
        )
        _acc(entry["metrics"], cell)
        if with_keys:
            k = entry["api_key_breakdown"].setdefault(
                cell["key"], {"metrics": metrics(0), "metadata": _meta(cell)}
            )
            _acc(k["metrics"], cell)

    total = metrics(0)
    for c in cells:
        _acc(total, c)
        add(bd["models"], c.get("deployment") or c["model"], c)
        add(bd["model_groups"], c["model"], c)
        add(bd["providers"], c["provider"], c)
        add(bd["entities"], c["team"] or "Unassigned", c)
        key = bd["api_keys"].setdefault(c["key"], {"metrics": metrics(0), "metadata": _meta(c)})
        _acc(key["metrics"], c)
    return {"date": date, "metrics": total, "breakdown": bd}


def _meta(c):
    return {
        "key_alias": c.get("alias"),
        "team_id": c["team"] or None,
        "user_id": c.get("user"),
        "user_email": None,
        "key_exists": True,
    }


def _acc(m: dict, c: dict):
    m["spend"] += c["spend"]
    m["prompt_tokens"] += c.get("prompt", 0)
    m["completion_tokens"] += c.get("completion", 0)
    m["total_tokens"] += c.get("prompt", 0) + c.get("completion", 0)
    m["api_requests"] += c.get("requests", 0)
    m["failed_requests"] += c.get("failed", 0)
    m["successful_requests"] += c.get("requests", 0) - c.get("failed", 0)


def team_of_dev_a(litellm, costs_org, label: str) -> tuple[LiteLLMClient, str, str, str]:
    """A new team ``portal-<label>-<run>`` on the real proxy with dev_a in it: the client,
    the run's suffix, the team id and dev_a's LiteLLM user id."""
    run = uuid.uuid4().hex[:8]
    team_id, user_id = f"portal-{label}-{run}", costs_org["dev_a"].entra_oid
    api = LiteLLMClient(litellm.base_url, litellm.master_key)
    api.new_team(team_id, f"{label} {run}")
    with contextlib.suppress(Conflict):  # made by another test against the same proxy
        api.new_user(user_id, "dev_a@example.com")
    api.team_member_add(team_id, user_id)
    return api, run, team_id, user_id
