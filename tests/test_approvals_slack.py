"""Approving from Slack, against a double speaking Slack's wire format: the message with its
buttons, signed button presses (valid, stale, forged, tampered), every rule applied by the
portal, and the message updated through its response_url."""

import time
from decimal import Decimal

import pytest

from approvals import engine
from approvals.lifecycle import Status
from approvals.models import ChatAccount
from keys.models import VirtualKey
from tenants.models import Membership

from .approvals_helpers import make_policy, submit_key
from .conftest import make_user
from .doubles.slack import SlackDouble
from .integration import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slack(settings, live_server):
    double = SlackDouble().start()
    settings.SLACK_API_URL = f"{double.url}/api"
    settings.SLACK_BOT_TOKEN = double.bot_token
    settings.SLACK_CHANNEL = "C0APPROVALS"
    settings.SLACK_SIGNING_SECRET = double.signing_secret
    settings.SITE_URL = live_server.url
    double.endpoint = f"{live_server.url}/approvals/slack/interactions/"
    yield double
    double.stop()
    assert not double.errors, double.errors


@pytest.fixture
def premium_policy(org):
    for name in ("lead_a", "infra", "dev_a"):
        ChatAccount.objects.create(user=org[name], slack_user_id=f"U{name.upper()}")
    make_policy(
        org["a"],
        {"name": "Lead", "approver": "leads"},
        {"name": "Infra", "approver": "infra", "condition": "budget_above",
         "threshold": Decimal("50")},
    )  # fmt: skip


def last_message(slack, after: int = 0):
    wait_for(lambda: len(slack.messages) > after, timeout=10)
    return sorted(slack.messages)[-1]


def test_premium_request_goes_lead_then_infra_from_slack_buttons(org, slack, premium_policy):
    key = submit_key(org, max_budget=Decimal("80"))
    ts = last_message(slack)
    message = slack.messages[ts]
    assert message["channel"] == "C0APPROVALS" and "Lead" in message["text"]
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions"
               for e in b["elements"]]  # fmt: skip
    assert buttons == ["approve", "reject"]

    assert slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A").status_code == 200
    wait_for(lambda: slack.responses, timeout=10)
    assert slack.responses[-1]["replace_original"] is True
    assert "next stage" in slack.responses[-1]["text"]
    assert slack.messages[ts]["blocks"] == []  # the buttons are gone
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED
    assert engine.current_stage(key).name == "Infra"

    ts2 = last_message(slack, after=1)  # the infra stage was announced
    assert slack.press(slack.endpoint, ts2, "approve", user_id="UINFRA").status_code == 200
    wait_for(lambda: len(slack.responses) == 2, timeout=10)
    assert "approved by" in slack.responses[-1]["text"]
    key.refresh_from_db()
    assert key.status == Status.APPROVED and key.decided_by == org["infra"]
    vote = engine.stages_for(key).last().decisions.get()
    assert vote.via == "slack"


def test_reject_from_slack_rejects_the_request(org, slack, premium_policy):
    key = submit_key(org)
    ts = last_message(slack)
    assert slack.press(slack.endpoint, ts, "reject", user_id="ULEAD_A").status_code == 200
    key.refresh_from_db()
    assert key.status == Status.REJECTED and key.decision_comment


@pytest.mark.parametrize(
    "forgery",
    [
        {"timestamp": -6 * 60},  # stale: more than five minutes old
        {"timestamp": +6 * 60},  # from the future
        {"secret": "not-the-signing-secret"},  # forged
        {"tamper": True},  # body changed after signing
    ],
)
def test_bad_signatures_are_refused_and_change_nothing(org, slack, premium_policy, forgery):
    if "timestamp" in forgery:  # an offset from now, taken when the test runs
        forgery = {"timestamp": int(time.time()) + forgery["timestamp"]}
    key = submit_key(org)
    ts = last_message(slack)
    response = slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A", **forgery)
    assert response.status_code == 401
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED
    assert not engine.current_stage(key).decisions.exists()
    assert not slack.responses


def test_a_signature_just_inside_the_window_is_accepted(org, slack, premium_policy):
    key = submit_key(org)
    ts = last_message(slack)
    stamp = int(time.time()) - 4 * 60
    assert (
        slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A", timestamp=stamp).status_code
        == 200
    )
    assert VirtualKey.objects.get(pk=key.pk).status == Status.APPROVED


def test_slack_applies_every_rule_not_your_own_and_stages(org, slack, premium_policy):
    own = submit_key(org, requester="lead_a", max_budget=Decimal("80"))
    ts = last_message(slack)
    # The lead's own request: their button press is refused, privately.
    assert slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A").status_code == 200
    wait_for(lambda: slack.responses, timeout=10)
    assert slack.responses[-1]["response_type"] == "ephemeral"
    assert slack.responses[-1]["replace_original"] is False
    # A developer, and someone Slack knows but the portal does not: refused too.
    slack.press(slack.endpoint, ts, "approve", user_id="UDEV_A")
    slack.press(slack.endpoint, ts, "approve", user_id="USTRANGER")
    wait_for(lambda: len(slack.responses) == 3, timeout=10)
    assert all(r["response_type"] == "ephemeral" for r in slack.responses)
    # Infra is the fallback for the lead stage here (the lead is the requester).
    assert [u.email for u in engine.current_stage(own).approvers.all()] == ["infra@example.com"]
    own.refresh_from_db()
    assert own.status == Status.SUBMITTED and not engine.current_stage(own).decisions.exists()


def test_garbage_is_a_400_not_a_500(client, settings):
    settings.SLACK_SIGNING_SECRET = "s3cr3t"
    from approvals.chat import slack_signature

    body = b"payload=not-json"
    stamp = str(int(time.time()))
    response = client.post(
        "/approvals/slack/interactions/", body, content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp,
        HTTP_X_SLACK_SIGNATURE=slack_signature("s3cr3t", stamp, body),
    )  # fmt: skip
    assert response.status_code == 400
    assert client.post("/approvals/slack/interactions/", {}).status_code == 401


def test_slack_counts_nobody_in_two_stages(org, slack, premium_policy):
    """A lead who is also infra approves the lead stage from Slack; their press on the infra
    stage's message is refused (stages need distinct people), and infra still decides."""
    boss = make_user("boss", infra=True)
    Membership.objects.create(user=boss, department=org["a"], role="lead")
    ChatAccount.objects.create(user=boss, slack_user_id="UBOSS")
    key = submit_key(org, max_budget=Decimal("80"))
    ts = last_message(slack)
    assert slack.press(slack.endpoint, ts, "approve", user_id="UBOSS").status_code == 200
    wait_for(lambda: engine.current_stage(key).name == "Infra", timeout=10)
    ts2 = last_message(slack, after=1)
    assert slack.press(slack.endpoint, ts2, "approve", user_id="UBOSS").status_code == 200
    wait_for(lambda: len(slack.responses) == 2, timeout=10)
    assert slack.responses[-1]["response_type"] == "ephemeral"
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED
    assert not engine.current_stage(key).decisions.exists()
    assert slack.press(slack.endpoint, ts2, "approve", user_id="UINFRA").status_code == 200
    wait_for(lambda: VirtualKey.objects.get(pk=key.pk).status == Status.APPROVED, timeout=10)
