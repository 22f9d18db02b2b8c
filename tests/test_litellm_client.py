"""The LiteLLM admin client against a real LiteLLM proxy (mock models, real PostgreSQL)."""

from __future__ import annotations

import datetime
import time
import uuid

import httpx
import pytest

from portal.integrations.errors import Conflict, NotFound, Rejected, Unavailable
from portal.integrations.litellm import LiteLLMClient

from .integration import chat, wait_for

pytestmark = pytest.mark.litellm


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(litellm_proxy):
    with LiteLLMClient(
        litellm_proxy.base_url, litellm_proxy.master_key, changed_by="portal:tests"
    ) as c:
        yield c


@pytest.fixture
def team(client):
    team_id = unique("team")
    client.new_team(team_id=team_id, team_alias=team_id, max_budget=100, budget_duration="30d")
    return team_id


@pytest.fixture
def user(client, team):
    user_id = unique("user")
    client.new_user(user_id=user_id, user_email=f"{user_id}@example.com")
    client.team_member_add(team_id=team, user_id=user_id)
    return user_id


def make_key(client, team, user, **overrides) -> dict:
    fields = {
        "key_alias": unique("key"),
        "user_id": user,
        "team_id": team,
        "models": ["gpt-4o-mini"],
        "max_budget": 10.0,
        "budget_duration": "30d",
        "rpm_limit": 100,
        "tpm_limit": 100_000,
        "duration": "30d",
        "metadata": {"portal_key_id": 42, "department": "alpha"},
    }
    fields.update(overrides)
    return client.generate_key(**fields)


def test_health(client):
    assert client.liveliness() == "I'm alive!"
    assert client.readiness()["db"] == "connected"


def test_team_create_info_and_conflict(client):
    team_id = unique("team")
    created = client.new_team(
        team_id=team_id,
        team_alias="Alpha",
        max_budget=250.0,
        budget_duration="30d",
        models=["gpt-4o-mini"],
        metadata={"cost_centre": "CC-1"},
    )
    assert created["team_id"] == team_id
    info = client.team_info(team_id)
    assert info["team_info"]["team_alias"] == "Alpha"
    assert info["team_info"]["max_budget"] == 250.0
    assert info["team_info"]["metadata"]["cost_centre"] == "CC-1"

    with pytest.raises(Conflict) as caught:
        client.new_team(team_id=team_id, team_alias="Alpha again")
    assert "already exists" in caught.value.message

    client.update_team(team_id, max_budget=300.0)
    assert client.team_info(team_id)["team_info"]["max_budget"] == 300.0


def test_user_create_membership_and_conflicts(client, team):
    user_id = unique("user")
    created = client.new_user(user_id=user_id, user_email=f"{user_id}@example.com")
    assert created["user_id"] == user_id
    assert client.user_info(user_id)["user_info"]["user_email"] == f"{user_id}@example.com"
    with pytest.raises(Conflict):
        client.new_user(user_id=user_id, user_email=f"{user_id}@example.com")

    client.team_member_add(team_id=team, user_id=user_id)
    members = client.team_info(team)["team_info"]["members_with_roles"]
    assert any(m["user_id"] == user_id for m in members)
    with pytest.raises(Conflict):
        client.team_member_add(team_id=team, user_id=user_id)

    client.team_member_delete(team_id=team, user_id=user_id)
    members = client.team_info(team)["team_info"]["members_with_roles"]
    assert not any(m["user_id"] == user_id for m in members)


def test_generate_find_and_info(client, team, user):
    key = make_key(client, team, user)
    secret, token = key["key"], key["token"]
    assert secret.startswith("sk-")
    assert token and token != secret

    found = client.find_key_by_alias(key["key_alias"])
    assert found is not None
    assert found["token"] == token
    assert found["team_id"] == team and found["user_id"] == user
    assert found["models"] == ["gpt-4o-mini"]
    assert found["max_budget"] == 10.0
    assert found["metadata"]["portal_key_id"] == 42
    assert client.find_key_by_alias(unique("absent")) is None

    by_hash = client.key_info(token)["info"]
    assert by_hash["key_alias"] == key["key_alias"]
    assert by_hash["metadata"]["department"] == "alpha"
    assert client.key_info(secret)["info"]["key_alias"] == key["key_alias"]

    listed = client.list_keys(team_id=team)
    assert token in [k["token"] for k in listed["keys"]]

    with pytest.raises(Conflict):
        make_key(client, team, user, key_alias=key["key_alias"])

    client.update_key(token, metadata={**found["metadata"], "project": "p1"}, max_budget=20.0)
    info = client.key_info(token)["info"]
    assert info["metadata"]["project"] == "p1" and info["max_budget"] == 20.0


def test_key_calls_the_mock_model(litellm_proxy, client, team, user):
    key = make_key(client, team, user)
    response = chat(litellm_proxy.base_url, key["key"])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the mock"
    # A model the key does not allow is refused.
    refused = chat(litellm_proxy.base_url, key["key"], model="claude-3-5-sonnet")
    assert refused.status_code in (400, 401, 403), refused.text


def test_budget_exceeded_is_refused_and_spend_is_recorded(litellm_proxy, client, team, user):
    key = make_key(client, team, user, max_budget=0.0001, budget_duration=None)
    assert chat(litellm_proxy.base_url, key["key"]).status_code == 200
    # Spend is written by LiteLLM's batch writer (proxy_batch_write_at: 1 s in config.yaml).
    wait_for(lambda: client.key_info(key["token"])["info"]["spend"] > 0.0001, timeout=30)
    refused = chat(litellm_proxy.base_url, key["key"])
    assert refused.status_code in (400, 401, 403, 422, 429), refused.text
    assert "budget" in refused.text.lower()


def test_spend_lands_in_team_daily_activity(litellm_proxy, client, team, user):
    key = make_key(client, team, user)
    started = time.monotonic()
    assert chat(litellm_proxy.base_url, key["key"]).status_code == 200
    today = datetime.datetime.now(datetime.UTC).date().isoformat()

    def daily_spend() -> float:
        response = httpx.get(
            f"{litellm_proxy.base_url}/team/daily/activity",
            params={"team_ids": team, "start_date": today, "end_date": today},
            headers={"Authorization": f"Bearer {litellm_proxy.master_key}"},
            timeout=30,
        )
        response.raise_for_status()
        return sum(day["metrics"]["spend"] for day in response.json()["results"])

    spend = wait_for(daily_spend, timeout=30)
    print(
        f"team daily spend {spend} visible after {time.monotonic() - started:.1f} s; "
        f"proxy started in {litellm_proxy.start_seconds:.1f} s"
    )
    assert spend == pytest.approx(client.key_info(key["token"])["info"]["spend"])


def test_tags_need_an_enterprise_licence(client, team, user):
    with pytest.raises(Rejected) as caught:
        make_key(client, team, user, tags=["portal"])
    assert caught.value.status == 403
    assert "Enterprise" in caught.value.message


def test_regenerate_needs_an_enterprise_licence(client, team, user):
    key = make_key(client, team, user)
    with pytest.raises(Rejected) as caught:
        client.regenerate_key(key["token"])
    assert "Enterprise" in caught.value.message


def test_block_and_unblock(litellm_proxy, client, team, user):
    key = make_key(client, team, user)
    client.block_key(key["token"])
    assert client.key_info(key["token"])["info"]["blocked"] is True
    assert chat(litellm_proxy.base_url, key["key"]).status_code in (400, 401, 403)
    client.unblock_key(key["token"])
    assert chat(litellm_proxy.base_url, key["key"]).status_code == 200


def test_delete_by_token_and_by_alias(litellm_proxy, client, team, user):
    first = make_key(client, team, user)
    second = make_key(client, team, user)
    client.delete_keys(keys=[first["token"]])
    client.delete_keys(key_aliases=[second["key_alias"]])
    assert client.find_key_by_alias(first["key_alias"]) is None
    assert client.find_key_by_alias(second["key_alias"]) is None
    assert chat(litellm_proxy.base_url, first["key"]).status_code in (400, 401, 403)
    with pytest.raises(NotFound):
        client.delete_keys(keys=[first["token"]])


def test_not_found_mapping(client):
    with pytest.raises(NotFound):
        client.team_info(unique("no-team"))
    with pytest.raises(NotFound):
        client.user_info(unique("no-user"))
    with pytest.raises(NotFound):
        client.key_info("sk-" + uuid.uuid4().hex)
    with pytest.raises(NotFound):
        client.block_key("sk-" + uuid.uuid4().hex)


def test_rejected_with_a_wrong_master_key(litellm_proxy):
    with (
        LiteLLMClient(litellm_proxy.base_url, "sk-wrong") as bad,
        pytest.raises(Rejected) as caught,
    ):
        bad.team_info("anything")
    assert caught.value.status in (400, 401, 403)
    assert "sk-wrong" not in str(caught.value)


def test_unavailable_while_the_proxy_is_stopped(litellm_proxy, client, team, user):
    key = make_key(client, team, user)
    litellm_proxy.stop()
    try:
        with pytest.raises(Unavailable) as caught:
            client.team_info(team)
        assert caught.value.status is None
    finally:
        litellm_proxy.start()
    # Same port, same database: everything is still there.
    assert client.find_key_by_alias(key["key_alias"])["token"] == key["token"]
    assert chat(litellm_proxy.base_url, key["key"]).status_code == 200


def test_team_member_update_sets_and_clears_the_member_budget(client, team, user):
    answer = client.team_member_update(team, user, max_budget_in_team=5.0, budget_duration="30d")
    assert (answer["team_id"], answer["user_id"]) == (team, user)
    assert answer["max_budget_in_team"] == 5.0 and answer["budget_duration"] == "30d"
    member = next(m for m in client.team_info(team)["team_memberships"] if m["user_id"] == user)
    assert member["litellm_budget_table"]["max_budget"] == 5.0
    cleared = client.team_member_update(team, user, max_budget_in_team=None, budget_duration=None)
    assert cleared["max_budget_in_team"] is None
    with pytest.raises((NotFound, Rejected)):
        client.team_member_update(
            unique("team"), user, max_budget_in_team=1.0, budget_duration=None
        )
