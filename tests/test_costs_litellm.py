"""Spend ingestion against the real LiteLLM proxy: its /team/daily/activity is the contract."""

import contextlib
import datetime
import uuid
from decimal import Decimal

import pytest

from costs import litellm_source
from costs.models import DailySpend, MonthlyKeySpend, MonthlySpend
from costs.tasks import run_ingestion
from portal.integrations.errors import Conflict
from portal.integrations.litellm import LiteLLMClient, key_hash

from . import test_costs_support as support
from .integration import chat, wait_for

pytestmark = [pytest.mark.litellm, pytest.mark.django_db]
costs_org = support.costs_org


def test_ingests_real_daily_aggregates(costs_org, litellm):
    run = uuid.uuid4().hex[:8]
    team_id, user_id = f"portal-costs-{run}", costs_org["dev_a"].entra_oid
    client = LiteLLMClient(litellm.base_url, litellm.master_key)
    client.new_team(team_id, f"costs {run}")
    with contextlib.suppress(Conflict):  # made by an earlier test on the same proxy
        client.new_user(user_id, "dev_a@example.com")
    client.team_member_add(team_id, user_id)
    portal_key = client.generate_key(key_alias=f"portal-{run}", team_id=team_id, user_id=user_id)
    other_key = client.generate_key(key_alias=f"elsewhere-{run}", team_id=team_id)
    for _ in range(2):
        assert chat(litellm.base_url, portal_key["key"]).status_code == 200
    assert chat(litellm.base_url, other_key["key"], "claude-3-5-sonnet").status_code == 200

    costs_org["a"].litellm_team_id = team_id
    costs_org["a"].save()
    token = key_hash(portal_key["key"])
    support.make_key(costs_org["dev_a"], costs_org["a"], token, name="bot")

    today = datetime.datetime.now(datetime.UTC).date()

    def ours():  # LiteLLM writes its daily tables in batches, a second or so after the calls
        rows, _pages = litellm_source.fetch_rows(today - datetime.timedelta(days=1), today)
        mine = [r for r in rows if r.team_id == team_id]
        return mine if sum(r.requests for r in mine) >= 3 else None

    rows = wait_for(ours, timeout=60, message="LiteLLM's daily team spend never showed the calls")
    by_key = {r.key_hash: r for r in rows}
    assert by_key[token].requests == 2 and by_key[token].spend > 0
    assert by_key[token].user_id == user_id and by_key[token].model
    assert by_key[key_hash(other_key["key"])].requests == 1

    run_ingestion(2)
    attributed = DailySpend.objects.get(team_id=team_id, key_hash=token)
    assert attributed.department == costs_org["a"] and attributed.user == costs_org["dev_a"]
    assert attributed.key.litellm_key_id == token
    unattributed = DailySpend.objects.get(team_id=team_id, key_hash=key_hash(other_key["key"]))
    assert unattributed.key is None and unattributed.department == costs_org["a"]
    month = MonthlySpend.objects.filter(team_id=team_id)
    assert sum(m.spend for m in month) == attributed.spend + unattributed.spend
    assert sum(m.unattributed_spend for m in month) == unattributed.spend
    assert MonthlyKeySpend.objects.get(team_id=team_id, key_hash=token).requests == 2

    # Where a LiteLLM has no daily aggregates, the paginated spend logs give the same rows.
    def same_from_logs():
        logs, _pages = litellm_source.fetch_rows_from_logs(
            today - datetime.timedelta(days=1), today
        )
        mine = {(r.key_hash, r.model): r for r in logs if r.team_id == team_id}
        return mine if sum(r.requests for r in mine.values()) >= 3 else None

    from_logs = wait_for(same_from_logs, timeout=30, message="spend logs never showed the calls")
    from_daily = {(r.key_hash, r.model): r for r in rows}
    assert from_logs.keys() == from_daily.keys()
    for cell, row in from_daily.items():
        logged = from_logs[cell]
        assert (logged.requests, logged.user_id, logged.provider) == (
            row.requests,
            row.user_id,
            row.provider,
        )
        assert logged.prompt_tokens == row.prompt_tokens
        assert abs(logged.spend - row.spend) < Decimal("0.00000001")


def test_falls_back_to_spend_logs_when_aggregates_are_missing(litellm, settings):
    """An older LiteLLM without /team/daily/activity: fetch_rows reads /spend/logs/v2."""
    import httpx

    def older_litellm(request: httpx.Request) -> httpx.Response:
        if request.url.path == litellm_source.ENDPOINT:
            return httpx.Response(404, json={"detail": "Not Found"})
        with httpx.Client() as real:  # everything else goes to the real proxy
            upstream = real.send(
                real.build_request(request.method, request.url, headers=request.headers)
            )
            return httpx.Response(upstream.status_code, json=upstream.json())

    client = LiteLLMClient(litellm.base_url, litellm.master_key)
    key = client.generate_key(key_alias=f"logs-{uuid.uuid4().hex[:8]}")
    assert chat(litellm.base_url, key["key"]).status_code == 200
    today = datetime.datetime.now(datetime.UTC).date()
    http = httpx.Client(
        base_url=litellm.base_url,
        headers={"Authorization": f"Bearer {litellm.master_key}"},
        transport=httpx.MockTransport(older_litellm),
    )

    def read():
        rows, _pages = litellm_source.fetch_rows(today, today, client=http)
        return [r for r in rows if r.key_hash == key_hash(key["key"])] or None

    [row] = wait_for(read, timeout=30, message="the fallback never saw the call")
    assert row.requests == 1 and row.spend > 0 and row.model.endswith("gpt-4o-mini")
