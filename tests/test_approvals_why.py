"""The decision page says why a request waits and in whose place the viewer decides, shows the
expected cost beside the worst case, and asks for a comment when a value is lowered."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.lifecycle import Status
from approvals.models import Delegation
from catalogue.models import CatalogueModel
from costs.models import DailySpend
from keys.models import VirtualKey

from .approvals_helpers import LEADS, make_policy, premium_to_infra, submit_key

pytestmark = pytest.mark.django_db

PREMIUM_TO_INFRA = premium_to_infra("Platform", "gpt-4o")


@pytest.fixture
def limits(org):
    dept = org["a"]
    dept.auto_approve_max_budget = Decimal("20")
    dept.auto_approve_max_lifetime_days = 30
    dept.save()
    return dept


def why(client, key) -> str:
    page = client.get(f"/approvals/keys/{key.pk}/").content.decode()
    start = page.index('id="why-waits"')
    return page[start : page.index("</section>", start)]


def test_the_page_names_the_limit_that_was_exceeded_and_the_lead_role(client, org, limits):
    make_policy(org["a"], LEADS)
    key = submit_key(org, max_budget=Decimal("50"), lifetime_days=45)
    client.force_login(org["lead_a"])
    text = why(client, key)
    assert "Its budget, USD 50.00, is over the auto-approval limit of USD 20.00" in text
    assert "Its lifetime, 45 days, is over the auto-approval limit of 30 days" in text
    assert "You decide as a lead of the department." in text


def test_a_premium_stage_is_named_for_a_request_under_the_limits(client, org, limits):
    make_policy(org["a"], PREMIUM_TO_INFRA)
    key = submit_key(org, llm_models=["gpt-4o", "gpt-4o-mini"], max_budget=Decimal("10"))
    assert key.status == Status.SUBMITTED
    client.force_login(org["infra"])
    text = why(client, key)
    assert "over the auto-approval limit" not in text
    assert "Stage “Platform”: it asks for premium models (gpt-4o)." in text
    assert "You decide as a member of the platform team (infra)." in text


def test_a_delegate_is_told_whose_place_they_stand_in(client, org, limits):
    make_policy(org["a"], LEADS)
    today = timezone.localdate()
    Delegation.objects.create(
        delegator=org["lead_a"],
        delegate=org["dev_b"],
        starts_on=today - datetime.timedelta(days=1),
        ends_on=today + datetime.timedelta(days=1),
    )
    key = submit_key(org, max_budget=Decimal("50"))
    client.force_login(org["dev_b"])
    assert f"You stand in for {org['lead_a']}" in why(client, key)


def test_without_auto_approval_the_page_says_every_request_is_decided(client, org):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    client.force_login(org["lead_a"])
    assert "has no auto-approval" in why(client, key)


def test_lowering_a_value_needs_a_comment(client, org):
    make_policy(org["a"], LEADS)
    key = submit_key(org, max_budget=Decimal("50"))
    client.force_login(org["lead_a"])
    url = f"/approvals/keys/{key.pk}/"
    page = client.post(url, {"decision": "approve", "max_budget": "30"}).content.decode()
    assert "Say why you lower what was asked for." in page
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED
    client.post(url, {"decision": "approve", "max_budget": "30", "comment": "Pilot first."})
    key.refresh_from_db()
    assert (key.max_budget, key.decision_comment) == (Decimal("30"), "Pilot first.")


def test_expected_cost_stands_beside_the_worst_case(client, org):
    make_policy(org["a"], LEADS)
    CatalogueModel.objects.create(
        name="gpt-4o-mini",
        input_price=Decimal("0.15"),
        output_price=Decimal("0.60"),
        seen_at=timezone.now(),
    )
    yesterday = timezone.now().astimezone(datetime.UTC).date() - datetime.timedelta(days=1)
    DailySpend.objects.create(
        day=yesterday,
        user=org["dev_a"],
        litellm_user_id=org["dev_a"].entra_oid,
        model="gpt-4o-mini",
        spend=Decimal("1"),
        prompt_tokens=2_000_000,
        completion_tokens=1_000_000,
    )
    key = submit_key(org, max_budget=Decimal("50"))
    client.force_login(org["lead_a"])
    page = client.get(f"/approvals/keys/{key.pk}/").content.decode()
    # 2M input at 0.15 and 1M output at 0.60 per million: 0.30 + 0.60.
    cells = dict(re.findall(r'id="(expected-cost|worst-case)">(.*?)</td>', page))
    assert {k: re.sub("<[^>]+>", "", v) for k, v in cells.items()} == {
        "expected-cost": "USD 0.90",
        "worst-case": "USD 50.00",
    }
    assert "from the requester's last 30 days (UTC) on these models" in page


def test_without_stages_the_lead_is_told_they_decide_as_a_lead(client, org):
    key = submit_key(org, max_budget=Decimal("50"))  # no policy: the leads decide
    assert key.status == Status.SUBMITTED
    client.force_login(org["lead_a"])
    assert "You decide as a lead of the department." in why(client, key)
