"""The Teams card: posted through an incoming webhook when a stage starts, accepted by
Microsoft's Adaptive Cards library (npm ``adaptivecards``) without a single complaint, and its
buttons open the portal's decision page."""

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from approvals import chat, engine

from .approvals_helpers import make_policy, submit_key
from .doubles.teams import TeamsWebhookDouble
from .integration import wait_for

VALIDATOR = Path(__file__).parent / "adaptivecards" / "validate.js"


def validate(card: dict) -> dict:
    result = subprocess.run(
        ["node", str(VALIDATOR)], input=json.dumps(card), capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_the_validator_catches_a_broken_card():
    broken = {
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "Bogus"}],
        "actions": [{"type": "Action.OpenUrl", "title": "Approve"}],  # no url
    }
    messages = [p["message"] for p in validate(broken)["problems"]]
    assert any("Bogus" in m for m in messages) and any("url" in m for m in messages)


@pytest.mark.django_db(transaction=True)
def test_stage_start_posts_a_valid_card_whose_buttons_open_the_decision_page(org, settings):
    teams = TeamsWebhookDouble().start()
    settings.TEAMS_WEBHOOK_URL = teams.url
    settings.SITE_URL = "https://portal.example.com"
    try:
        make_policy(org["a"], {"name": "Lead", "approver": "leads"})
        key = submit_key(org, max_budget=Decimal("20"))
        wait_for(lambda: teams.received, timeout=10)
    finally:
        teams.stop()
    [message] = teams.received
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    result = validate(card)
    assert result["problems"] == []
    assert result["version"] == "1.4"
    assert result["card"]["body"] == card["body"]  # nothing dropped by the parser
    urls = [a["url"] for a in card["actions"]]
    assert urls == [
        f"https://portal.example.com/approvals/keys/{key.pk}/?decision=approve",
        f"https://portal.example.com/approvals/keys/{key.pk}/?decision=reject",
    ]
    assert engine.current_stage(key).name in json.dumps(card)


def test_card_for_japanese_portal_is_valid_too(org, settings, db):
    settings.LANGUAGE_CODE = "ja"
    make_policy(org["a"], {"name": "リード", "approver": "leads"})
    key = submit_key(org)
    card = chat.teams_card(key, engine.current_stage(key))["attachments"][0]["content"]
    assert validate(card)["problems"] == []
