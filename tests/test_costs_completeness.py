"""Complete numbers against the real LiteLLM proxy: spend of keys without a team is ingested,
and the daily cross-check of aggregates against spend logs finds a lost row."""

import datetime

import pytest

from costs import completeness, litellm_source
from costs.models import AggregateCheck, DailySpend
from costs.tasks import run_ingestion
from portal.integrations.litellm import key_hash

from . import test_costs_support as support
from .integration import chat, wait_for

pytestmark = [pytest.mark.litellm, pytest.mark.django_db]
costs_org = support.costs_org


def litellm_requests(day: datetime.date, endpoint: str) -> dict[str, int]:
    """Requests per key on ``day`` as one of LiteLLM's daily tables holds them now."""
    out: dict[str, int] = {}
    for body in litellm_source.iter_pages(day, day, endpoint=endpoint):
        for result in body.get("results") or []:
            for r in litellm_source.rows_from_day(result):
                out[r.key_hash] = out.get(r.key_hash, 0) + r.requests
    return out


def test_teamless_keys_are_ingested_and_cross_checked(costs_org, litellm, client):
    api, run, team_id, user_id = support.team_of_dev_a(litellm, costs_org, "complete")
    in_team = api.generate_key(key_alias=f"team-{run}", team_id=team_id, user_id=user_id)
    no_team = api.generate_key(key_alias=f"solo-{run}", user_id=user_id)
    assert chat(litellm.base_url, in_team["key"]).status_code == 200
    for _ in range(2):
        assert chat(litellm.base_url, no_team["key"], "claude-3-5-sonnet").status_code == 200
    costs_org["a"].litellm_team_id = team_id
    costs_org["a"].save()
    today = datetime.datetime.now(datetime.UTC).date()
    solo, teamed = key_hash(no_team["key"]), key_hash(in_team["key"])

    def ingested():
        run_ingestion(1)
        rows = {r.key_hash: r for r in DailySpend.objects.filter(key_hash__in=[solo, teamed])}
        done = rows.get(solo) and rows[solo].requests == 2 and rows.get(teamed)
        return rows if done else None

    # LiteLLM writes its daily tables in batches; on a busy machine that takes a while.
    try:
        rows = wait_for(ingested, timeout=180, interval=2)
    except AssertionError:
        stored = list(DailySpend.objects.values_list("team_id", "key_hash", "requests"))
        pages = list(
            completeness.litellm_source.iter_pages(today, today, endpoint="/user/daily/activity")
        )
        raise AssertionError(f"team-less spend never arrived: {stored} {pages}") from None
    assert rows[solo].team_id == "" and rows[solo].department is None
    assert rows[solo].spend > 0 and "claude-3-5-sonnet" in rows[solo].model
    assert rows[teamed].team_id == team_id  # once, from the team table
    assert DailySpend.objects.filter(key_hash=teamed).count() == 1

    # Read again once LiteLLM's two daily tables both hold every call (the condition itself,
    # polled; a timeout fails the test): the team table the team key's, the user table both
    # keys'. Only then could a double count show, and it must not.
    def both_tables_written():
        team = litellm_requests(today, litellm_source.ENDPOINT)
        user = litellm_requests(today, completeness.USER_ENDPOINT)
        done = team.get(teamed) == 1 and user.get(teamed) == 1 and user.get(solo) == 2
        return (team, user) if done else None

    wait_for(
        both_tables_written,
        timeout=120,
        interval=1,
        message="LiteLLM's daily team and user tables never both held the three calls",
    )
    run_ingestion(1)
    assert DailySpend.objects.get(key_hash=solo).requests == 2
    assert DailySpend.objects.get(key_hash=teamed).requests == 1  # not 2: once, not per table

    # The cross-check: every sampled key-day matches the spend logs...
    def checked():
        checks = {c.key_hash: c for c in completeness.cross_check([today], size=50)}
        ok = solo in checks and teamed in checks and all(c.matches for c in checks.values())
        return checks if ok else None

    checks = wait_for(checked, timeout=30, message="aggregates never matched the spend logs")
    assert checks[solo].logs_requests == 2 and checks[solo].aggregate_requests == 2
    # ...and a row lost from the aggregates shows as a mismatch, on infra's health card.
    DailySpend.objects.filter(key_hash=solo).update(spend=0, requests=1)
    checks = {c.key_hash: c for c in completeness.cross_check([today], size=50)}
    assert not checks[solo].matches and checks[teamed].matches
    assert AggregateCheck.objects.filter(matches=False).count() == 1
    client.force_login(costs_org["infra"])
    html = client.get("/costs/org/").content.decode()
    assert 'id="aggregate-check"' in html and solo[-8:] in html
