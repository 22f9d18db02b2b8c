"""Approving from Slack, against a double speaking Slack's wire format: the message with its
buttons, signed button presses (valid, stale, forged, tampered), every rule applied by the
portal, and the message updated through its response_url."""

import threading
import time
from decimal import Decimal

import pytest

from approvals import engine
from approvals.lifecycle import Status
from approvals.models import ChatAccount, Policy
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


# --- a press counts once, and only for the stage and the message it was shown for ----------
@pytest.fixture
def same_lead_twice(org):
    """Two stages that the same lead decides (the policy lets one person vote in both): a
    press meant for the first must never land in the second."""
    ChatAccount.objects.create(user=org["lead_a"], slack_user_id="ULEAD_A")
    Policy.objects.create(department=org["a"], distinct_approvers=False)
    return make_policy(
        org["a"],
        {"name": "Lead", "approver": "leads"},
        {"name": "Budget owner", "approver": "person", "person": org["lead_a"]},
    )


def stage_votes(key) -> dict[str, int]:
    return {s.name: s.decisions.count() for s in engine.stages_for(key)}


def assert_decided(key, status: str, votes: dict[str, int]) -> None:
    """The key's status and the votes counted in each of its stages, as stored now."""
    key.refresh_from_db()
    assert key.status == status
    assert stage_votes(key) == votes


def test_an_exact_replay_of_a_press_decides_nothing(org, slack, same_lead_twice):
    key = submit_key(org)
    ts = last_message(slack)
    assert slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A").status_code == 200
    wait_for(lambda: len(slack.responses) == 1, timeout=10)
    assert engine.current_stage(key).name == "Budget owner"
    last_message(slack, after=1)  # the second stage was announced

    # The same signed bytes again, inside the five-minute window.
    assert slack.replay().status_code == 200
    wait_for(lambda: len(slack.responses) == 2, timeout=10)
    reply = slack.responses[-1]
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "not counted" in reply["text"]
    assert_decided(key, Status.SUBMITTED, {"Lead": 1, "Budget owner": 0})


def test_a_press_for_a_stage_that_has_moved_on_decides_nothing(org, slack, same_lead_twice):
    key = submit_key(org)
    ts = last_message(slack)
    slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A")
    wait_for(lambda: len(slack.responses) == 1, timeout=10)
    assert engine.current_stage(key).name == "Budget owner"

    # A new press (new timestamp, new signature) on the first stage's message, from a client
    # that still shows its buttons.
    response = slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A", as_posted=True)
    assert response.status_code == 200
    wait_for(lambda: len(slack.responses) == 2, timeout=10)
    reply = slack.responses[-1]
    assert reply["response_type"] == "ephemeral" and "nothing was counted" in reply["text"]
    assert_decided(key, Status.SUBMITTED, {"Lead": 1, "Budget owner": 0})

    # The second stage's own message still works.
    ts2 = last_message(slack, after=1)
    slack.press(slack.endpoint, ts2, "approve", user_id="ULEAD_A")
    wait_for(lambda: len(slack.responses) == 3, timeout=10)
    assert_decided(key, Status.APPROVED, {"Lead": 1, "Budget owner": 1})


def test_a_message_rendered_under_an_earlier_policy_version_decides_nothing(
    org, slack, same_lead_twice
):
    key = submit_key(org)
    ts = last_message(slack)
    assert same_lead_twice.version == 1
    # Infra changes the department's policy: the message's buttons were rendered under v1.
    make_policy(org["a"], {"name": "Lead", "approver": "leads", "quorum": "all"})
    slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A")
    wait_for(lambda: slack.responses, timeout=10)
    reply = slack.responses[-1]
    assert reply["response_type"] == "ephemeral"
    assert "policy changed" in reply["text"] and "version 1, now 2" in reply["text"]
    assert_decided(key, Status.SUBMITTED, {"Lead": 0, "Budget owner": 0})


def test_a_message_from_before_buttons_named_their_policy_decides_nothing(
    org, slack, same_lead_twice
):
    """Buttons posted before this rule carried ``kind:pk:stage`` only."""
    key = submit_key(org)
    ts = last_message(slack)
    for block in slack.messages[ts]["blocks"]:
        for element in block.get("elements", []):
            element["value"] = element["value"].rsplit(":", 1)[0]
    slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A")
    wait_for(lambda: slack.responses, timeout=10)
    assert "out of date" in slack.responses[-1]["text"]
    assert stage_votes(key) == {"Lead": 0, "Budget owner": 0}


def test_two_copies_of_one_press_at_once_count_once(org, slack, same_lead_twice):
    """The same signed request delivered twice at the same moment: one vote."""
    key = submit_key(org)
    ts = last_message(slack)
    slack.press(slack.endpoint, ts, "approve", user_id="ULEAD_A", send=False)
    barrier = threading.Barrier(2)
    codes = []

    def send():
        barrier.wait()
        codes.append(slack.replay().status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200, 200]
    wait_for(lambda: len(slack.responses) == 2, timeout=10)
    assert sum("not counted" in r["text"] for r in slack.responses) == 1
    assert stage_votes(key) == {"Lead": 1, "Budget owner": 0}
