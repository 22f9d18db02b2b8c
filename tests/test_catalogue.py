"""The model catalogue: read from the real LiteLLM proxy's ``/model_group/info``, shown at
``/models/`` and on the key form with prices, a cost estimate from the developer's own use, and
models gone from LiteLLM flagged on the keys that name them."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from approvals.lifecycle import Status
from catalogue import services
from catalogue.models import CatalogueModel
from costs.estimate import monthly_estimate
from costs.models import DailySpend

from .approvals_helpers import make_policy
from .factories import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def refreshed(litellm, db):
    """The catalogue as the real proxy (tests' config.yaml) describes its models."""
    services.refresh()
    return litellm


def utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)


def spend(user, day: str, model: str, prompt: int, completion: int) -> None:
    DailySpend.objects.create(
        day=datetime.date.fromisoformat(day),
        user=user,
        model=model,
        litellm_user_id=user.entra_oid,
        spend=Decimal("0.01"),
        prompt_tokens=prompt,
        completion_tokens=completion,
        requests=1,
    )


@pytest.mark.litellm
def test_refresh_reads_models_and_prices_from_litellm(refreshed):
    mini = CatalogueModel.objects.get(name="gpt-4o-mini")
    # The proxy's config prices gpt-4o-mini at 0.00001 / 0.00002 USD per token.
    assert (mini.input_price, mini.output_price) == (Decimal("10"), Decimal("20"))
    assert mini.providers == ["openai"] and mini.mode == "chat"
    assert mini.context_window == 128000
    sonnet = CatalogueModel.objects.get(name="claude-3-5-sonnet")
    assert (sonnet.input_price, sonnet.output_price) == (Decimal("30"), Decimal("150"))
    assert sonnet.providers == ["anthropic"]
    # Each name's deployments (``/model/info``): the provider model spend may be reported under.
    assert sonnet.deployments == ["anthropic/claude-3-5-sonnet-20241022"]
    assert mini.deployments == ["openai/gpt-4o-mini"]
    assert set(CatalogueModel.objects.values_list("name", flat=True)) == {
        "gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "gemini-1.5-flash",
    }  # fmt: skip


@pytest.mark.litellm
def test_a_model_gone_from_litellm_is_flagged_on_the_keys_that_use_it(refreshed, org, client):
    CatalogueModel.objects.create(name="gpt-3.5-turbo", seen_at=timezone.now())  # served once
    key = make_key(org, status=Status.ACTIVE, llm_models=["gpt-4o-mini", "gpt-3.5-turbo"])
    assert services.refresh()["gone"] == 1
    assert CatalogueModel.objects.get(name="gpt-3.5-turbo").missing_since is not None
    client.force_login(org["dev_a"])
    html = client.get(f"/keys/{key.pk}/").content.decode()
    assert 'id="missing-models"' in html and "gpt-3.5-turbo" in html.split('id="missing-models"')[1]
    fine = make_key(org, status=Status.ACTIVE, name="fine", llm_models=["gpt-4o-mini"])
    assert 'id="missing-models"' not in client.get(f"/keys/{fine.pk}/").content.decode()
    # Gone models leave the catalogue page.
    assert "gpt-3.5-turbo" not in client.get("/models/").content.decode()


@pytest.mark.litellm
@pytest.mark.parametrize(
    ("language", "title", "premium"),
    [("en", "Models and prices", "premium"), ("ja", "モデルと料金", "プレミアム")],
)
def test_catalogue_page_shows_prices_and_the_policys_premium_set(
    refreshed, org, client, language, title, premium
):
    make_policy(
        org["a"],
        {"name": "Infra", "approver": "infra", "condition": "premium_model",
         "premium_models": ["claude-3-5-sonnet"]},
    )  # fmt: skip
    client.force_login(org["dev_a"])
    html = client.get("/models/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"<title>{title}" in html
    rows = {row.split("</th>")[0]: row for row in html.split('<th scope="row">')[1:]}
    assert "30.00" in rows["claude-3-5-sonnet"] and "150.00" in rows["claude-3-5-sonnet"]
    assert f"Alpha (<strong>{premium}</strong>)" in rows["claude-3-5-sonnet"]
    assert "Alpha" in rows["gpt-4o-mini"] and premium not in rows["gpt-4o-mini"]
    assert "128,000" in rows["gpt-4o-mini"] or "128000" in rows["gpt-4o-mini"]


def test_catalogue_page_before_the_first_refresh_says_so(org, client):
    client.force_login(org["dev_a"])
    assert 'id="catalogue-empty"' in client.get("/models/").content.decode()


@pytest.mark.litellm
def test_key_form_labels_each_model_with_its_prices(refreshed, org, client):
    client.force_login(org["dev_a"])
    html = client.get("/keys/request/").content.decode()
    assert "gpt-4o-mini · USD 10.00 in / 20.00 out per 1M tokens" in html
    assert "claude-3-5-sonnet · USD 30.00 in / 150.00 out per 1M tokens" in html
    assert 'id="estimate-box"' in html


@pytest.mark.litellm
def test_estimate_prices_the_developers_last_30_utc_days(refreshed, org, client):
    dev = org["dev_a"]
    spend(dev, "2026-11-06", "gpt-4o", 999_999, 999_999)  # 31 days before: outside
    spend(dev, "2026-11-07", "gpt-4o", 1_000_000, 100_000)  # first of the 30 days
    spend(dev, "2026-12-06", "gpt-4o-mini", 500_000, 50_000)  # yesterday (UTC)
    spend(dev, "2026-12-07", "gpt-4o-mini", 777_777, 777_777)  # today: not complete, left out
    spend(org["lead_a"], "2026-12-06", "gpt-4o", 5_000_000, 5_000_000)  # someone else
    # 00:01 UTC on 7 December and 23:59 UTC: the same window (23:59 JST is 14:59 UTC).
    for moment in ("2026-12-07T00:01:00", "2026-12-07T14:59:00", "2026-12-07T23:59:00"):
        with time_machine.travel(utc(moment), tick=False):
            estimate = monthly_estimate(dev, ["gpt-4o-mini", "claude-3-5-sonnet"])
        assert (estimate.input_tokens, estimate.output_tokens) == (1_500_000, 150_000), moment
        # By hand: 1.5M × 10 + 0.15M × 20 = 18.00; 1.5M × 30 + 0.15M × 150 = 67.50.
        assert dict(estimate.per_model) == {
            "gpt-4o-mini": Decimal("18"),
            "claude-3-5-sonnet": Decimal("67.5"),
        }
    # 00:01 UTC on 8 December: 7 December is complete and counts; 7 November drops out.
    with time_machine.travel(utc("2026-12-08T00:01:00"), tick=False):
        estimate = monthly_estimate(dev, ["gpt-4o-mini"])
    assert (estimate.input_tokens, estimate.output_tokens) == (1_277_777, 827_777)
    client.force_login(dev)
    with time_machine.travel(utc("2026-12-07T12:00:00"), tick=False):
        html = client.get(
            "/costs/estimate/", {"llm_models": ["gpt-4o-mini", "claude-3-5-sonnet"]}
        ).content.decode()
    assert "USD 18.00 – 67.50" in html and "last 30 days" in html


@pytest.mark.litellm
def test_estimate_without_history_says_it_assumes_a_reference_month(refreshed, org, client):
    client.force_login(org["dev_a"])
    html = client.get("/costs/estimate/", {"llm_models": ["gpt-4o-mini"]}).content.decode()
    inp, out = settings.ESTIMATE_REFERENCE_TOKENS
    assert "no use in the last 30 days" in html
    assert f"USD {(inp * 10 + out * 20) / 1_000_000:.2f}" in html
    bad = client.get("/costs/estimate/", {"llm_models": ["x\x00"]})
    assert bad.status_code == 200 and "x\x00" not in bad.content.decode()


def test_the_catalogue_is_refreshed_on_a_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-catalogue"]
    assert entry["task"] == "catalogue.tasks.refresh_catalogue" and entry["schedule"] <= 3600
