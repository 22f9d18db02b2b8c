"""Member budgets, hard and soft, against the real LiteLLM proxy: a hard budget becomes the
member's budget in the department's team and LiteLLM refuses their calls over it; a soft one
clears LiteLLM's again (alerts only)."""

from decimal import Decimal

import httpx
import pytest

from costs import member_budgets
from costs.models import MemberBudget
from keys.services import ensure_membership, ensure_team, ensure_user, team_id_for
from portal.integrations.litellm import LiteLLMClient

from .integration import chat, wait_for

pytestmark = pytest.mark.django_db
MODEL = "claude-3-5-sonnet"  # about USD 0.001 a call on the test proxy


def member_info(proxy, team_id: str, user_id: str) -> dict:
    response = httpx.get(
        f"{proxy.base_url}/team/info",
        params={"team_id": team_id},
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        timeout=30,
    )
    response.raise_for_status()
    for membership in response.json().get("team_memberships", []):
        if membership["user_id"] == user_id:
            return membership
    return {}


def test_hard_member_budget_is_enforced_by_litellm_and_soft_clears_it(org, litellm):
    dept, dev = org["a"], org["dev_a"]
    client = LiteLLMClient.from_settings(changed_by="test")
    ensure_team(client, dept)
    ensure_user(client, dev)
    team_id = team_id_for(dept)
    ensure_membership(client, team_id, dev)
    secret = client.generate_key(
        key_alias="member-budget-test", user_id=dev.entra_oid, team_id=team_id
    )["key"]
    assert chat(litellm.base_url, secret, MODEL).status_code == 200

    obj = member_budgets.set_member_budget(
        dept, dev, Decimal("0.01"), enforced=True, actor=org["lead_a"]
    )
    assert obj.enforced
    assert member_budgets.push(dept.pk, dev.pk) == "enforced"
    budget = member_info(litellm, team_id, dev.entra_oid)["litellm_budget_table"]
    assert budget["max_budget"] == 0.01 and budget["budget_duration"] == "30d"
    assert MemberBudget.objects.get(pk=obj.pk).synced_at is not None

    # Spend in the team grows with each call until LiteLLM refuses the member's next one.
    refused = None
    for _ in range(100):
        response = chat(litellm.base_url, secret, MODEL)
        if response.status_code != 200:
            refused = response
            break
    assert refused is not None, "LiteLLM never refused a call over the member's budget"
    assert 400 <= refused.status_code < 500  # 422 on this LiteLLM version
    assert "Budget has been exceeded" in refused.text and dev.entra_oid in refused.text

    # Soft: LiteLLM forgets the member's budget, the portal keeps it for alerts.
    member_budgets.set_member_budget(dept, dev, Decimal("0.01"), enforced=False, actor=None)
    assert member_budgets.push(dept.pk, dev.pk) == "cleared"
    assert MemberBudget.objects.get(pk=obj.pk).enforced is False
    wait_for(
        lambda: chat(litellm.base_url, secret, MODEL).status_code == 200,
        timeout=30,
        message="calls still refused after the budget became soft",
    )
