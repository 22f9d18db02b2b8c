"""Approving from Teams through the bot, against a double speaking the Bot Framework's
published protocol: OpenID metadata and JWKS with endorsements (rotated mid-test), connector
tokens signed with keys the test controls, and ``adaptiveCard/action`` invokes for the
``Action.Execute`` buttons of the card a stage posts. Every rule of a Slack press applies, a
bad token is a 401 that changes nothing, and every card the portal answers is valid."""

import threading
import time

import httpx
import jwt
import pytest
from django.utils import timezone

from approvals import chat, delegation, engine, teams
from approvals.lifecycle import Status
from approvals.models import ChatInteraction, Policy, StageDecision
from keys.models import VirtualKey
from portal.models import AuditEvent

from .approvals_helpers import LEADS, make_policy, submit_key
from .conftest import make_user
from .doubles.botframework import CONVERSATION, BotFramework, SigningKey
from .doubles.teams import TeamsWebhookDouble
from .integration import wait_for
from .test_approvals_teams import validate

pytestmark = pytest.mark.django_db(transaction=True)

APP_ID = "6f1b2c3d-0000-4000-8000-00000000b07a"


@pytest.fixture
def bot(settings, live_server):
    double = BotFramework(APP_ID)
    settings.TEAMS_BOT_APP_ID = APP_ID
    settings.TEAMS_BOT_APP_PASSWORD = double.app_password
    settings.TEAMS_BOT_TOKEN_URL = double.token_url
    settings.TEAMS_BOT_SERVICE_URL = double.service_url
    settings.TEAMS_BOT_CONVERSATION_ID = CONVERSATION
    settings.TEAMS_BOT_OPENID_METADATA_URL = double.metadata_url
    settings.TEAMS_BOT_ALLOW_HTTP_METADATA = True
    settings.SITE_URL = live_server.url
    double.endpoint = f"{live_server.url}/integrations/teams/messages"
    teams._tokens.clear()  # a token cached for an earlier double on the same port is not ours
    yield double
    double.close()


def card(bot, after: int = 0) -> dict:
    """The card of stage announcement number ``after + 1``, as the bot posted it."""
    wait_for(lambda: len(bot.posted) > after, timeout=10)
    [attachment] = bot.posted[after]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def answered(response) -> tuple[dict, str]:
    """The card of an invoke response (checked to be a valid Adaptive Card) and its text."""
    assert response.status_code == 200
    body = response.json()
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    result = validate(body["value"])
    assert result["problems"] == []
    return body["value"], " ".join(b.get("text", "") for b in body["value"]["body"])


def stage_votes(key) -> dict[str, int]:
    return {s.name: s.decisions.count() for s in engine.stages_for(key)}


def test_the_bot_posts_the_card_with_buttons_that_decide(org, bot, settings):
    webhook = TeamsWebhookDouble().start()  # configured too: the bot's post replaces it
    settings.TEAMS_WEBHOOK_URL = webhook.url
    try:
        make_policy(org["a"], LEADS)
        key = submit_key(org)
        posted = card(bot)
    finally:
        webhook.stop()
    assert webhook.received == [] and len(bot.access_tokens) == 1
    assert bot.posted[0]["type"] == "message"
    assert validate(posted)["problems"] == []
    execute = [a for a in posted["actions"] if a["type"] == "Action.Execute"]
    assert [a["verb"] for a in execute] == ["approve", "reject"]
    stage = engine.current_stage(key)
    assert execute[0]["data"] == {"verb": "approve", "kind": "keys.virtualkey", "request": key.pk,
                                  "stage": stage.pk, "policy": 1}  # fmt: skip
    [link] = [a for a in posted["actions"] if a["type"] == "Action.OpenUrl"]
    assert link["url"].endswith(f"/approvals/keys/{key.pk}/")


def decision_of(key) -> dict:
    """What a decision changed, as comparable between two requests."""
    key.refresh_from_db()
    vote = StageDecision.objects.get(stage__object_id=key.pk)
    actions = list(
        AuditEvent.objects.filter(object_id=str(key.pk), object_type="keys.virtualkey")
        .order_by("pk")
        .values_list("action", "actor__email")
    )
    return {"status": key.status, "by": key.decided_by.email, "vote": (vote.decision,
            vote.actor.email, vote.counted_for.email), "audit": actions}  # fmt: skip


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_press_decides_exactly_as_the_portal_does(org, bot, client, verb):
    make_policy(org["a"], LEADS)
    on_portal = submit_key(org, name="on-portal")
    in_teams = submit_key(org, name="in-teams")
    client.force_login(org["lead_a"])
    form = {"decision": verb, "comment": "Rejected in Teams." if verb == "reject" else ""}
    assert client.post(f"/approvals/keys/{on_portal.pk}/", form).status_code == 302

    response = bot.press(bot.endpoint, card(bot, after=1), verb, aad_object_id="oid-lead_a")
    _card, text = answered(response)
    assert ("approved by" if verb == "approve" else "rejected by") in text
    assert decision_of(in_teams) == decision_of(on_portal)
    assert in_teams.status == (Status.APPROVED if verb == "approve" else Status.REJECTED)
    assert StageDecision.objects.get(stage__object_id=in_teams.pk).via == "teams"
    if verb == "reject":
        assert in_teams.decision_comment == "Rejected in Teams."


def refused(bot, key, response) -> None:
    assert response.status_code == 401
    assert VirtualKey.objects.get(pk=key.pk).status == Status.SUBMITTED
    assert not StageDecision.objects.filter(stage__object_id=key.pk).exists()
    assert not ChatInteraction.objects.exists()


FORGER = SigningKey()


@pytest.mark.parametrize(
    "forgery",
    [
        "no-token", "wrong-audience", "wrong-issuer", "expired", "not-yet-valid",
        "forged-signature", "unknown-kid", "not-endorsed", "other-service-url", "hs256",
    ],
)  # fmt: skip
def test_a_bad_token_is_refused_and_changes_nothing(org, bot, forgery):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    posted = card(bot)
    now = int(time.time())
    press = {"aad_object_id": "oid-lead_a"}
    if forgery == "not-endorsed":
        bot.rotate(endorsements=("webchat",))  # the key signs for another channel only
    if forgery == "unknown-kid":  # the portal has the keys already: a bad token fetched them
        refused(bot, key, bot.press(bot.endpoint, posted, "approve", token=bot.token(aud="x"),
                                    **press))  # fmt: skip
    tokens = {
        "wrong-audience": lambda: bot.token(aud="another-bot"),
        "wrong-issuer": lambda: bot.token(iss="https://sts.windows.net/some-tenant/"),
        "expired": lambda: bot.token(exp=now - 301, nbf=now - 3600),  # past the 5-min leeway
        "not-yet-valid": lambda: bot.token(nbf=now + 400),
        "forged-signature": lambda: bot.token(key=FORGER, kid=bot.signing_key.kid),
        "unknown-kid": lambda: bot.token(key=FORGER),
        "not-endorsed": lambda: bot.token(),
        "other-service-url": lambda: bot.token(serviceurl="https://smba.example.com/"),
        "hs256": lambda: hs256(bot),
    }
    if forgery == "no-token":
        response = httpx.post(bot.endpoint, json=bot.activity(posted, "approve", **press))
    else:
        response = bot.press(bot.endpoint, posted, "approve", token=tokens[forgery](), **press)
    refused(bot, key, response)
    if forgery == "unknown-kid":
        assert bot.jwks_fetches == 2  # the unknown kid refetched the keys, once
        again = bot.press(bot.endpoint, posted, "approve", token=bot.token(key=SigningKey()),
                          **press)  # fmt: skip
        refused(bot, key, again)
        assert bot.jwks_fetches == 2  # made-up kids do not make the portal hammer the keys


def hs256(bot) -> str:
    now = int(time.time())
    claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "nbf": now, "exp": now + 60,
              "serviceurl": "https://smba.trafficmanager.net/emea/"}  # fmt: skip
    return jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": bot.signing_key.kid})


def test_a_token_inside_the_five_minute_leeway_is_accepted(org, bot):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    token = bot.token(exp=int(time.time()) - 240)
    response = bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-lead_a",
                         token=token)  # fmt: skip
    answered(response)
    assert VirtualKey.objects.get(pk=key.pk).status == Status.APPROVED


def test_keys_rotated_mid_test_are_refetched_and_the_old_key_is_refused(org, bot):
    make_policy(org["a"], LEADS)
    first, second = submit_key(org, name="first"), submit_key(org, name="second")
    old = bot.signing_key
    answered(bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-lead_a"))
    assert (bot.metadata_fetches, bot.jwks_fetches) == (1, 1)
    bot.rotate()
    posted = card(bot, after=1)
    old_token = bot.token(key=old)
    answered(bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a"))
    assert bot.jwks_fetches == 2  # the new kid was unknown: fetched again, once
    assert len(bot.access_tokens) == 1  # the bot's own token served both posts
    assert VirtualKey.objects.get(pk=first.pk).status == Status.APPROVED
    assert VirtualKey.objects.get(pk=second.pk).status == Status.APPROVED
    third = submit_key(org, name="third")
    response = bot.press(bot.endpoint, card(bot, after=2), "approve", aad_object_id="oid-lead_a",
                         token=old_token)  # fmt: skip
    assert response.status_code == 401
    assert VirtualKey.objects.get(pk=third.pk).status == Status.SUBMITTED


def test_a_revoked_bot_token_is_forgotten_and_the_card_still_posted(org, bot):
    make_policy(org["a"], LEADS)
    submit_key(org, name="first")
    card(bot)
    bot.revoke_tokens()  # the connector no longer honours the token the portal has cached
    second = submit_key(org, name="second")
    posted = card(bot, after=1)
    assert len(bot.access_tokens) == 1  # asked for once more, and only once
    answered(bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a"))
    assert VirtualKey.objects.get(pk=second.pk).status == Status.APPROVED


def test_own_request_unknown_people_and_developers_are_refused_with_a_card(org, bot):
    make_policy(org["a"], LEADS)
    own = submit_key(org, requester="lead_a")
    posted = card(bot)
    _c, text = answered(bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a"))
    assert text == "You cannot decide your own request."
    _c, text = answered(bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-dev_a"))
    assert text == "You cannot decide this request."
    _c, text = answered(bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-stranger"))
    assert "not linked to a portal user" in text
    own.refresh_from_db()
    assert own.status == Status.SUBMITTED and not engine.current_stage(own).decisions.exists()


@pytest.fixture
def same_lead_twice(org):
    """Two stages the same lead decides: a press meant for the first must never count in the
    second."""
    Policy.objects.create(department=org["a"], distinct_approvers=False)
    return make_policy(
        org["a"], LEADS, {"name": "Budget owner", "approver": "person", "person": org["lead_a"]}
    )


def test_a_press_for_a_stage_that_has_moved_on_decides_nothing(org, bot, same_lead_twice):
    key = submit_key(org)
    first = card(bot)
    _c, text = answered(bot.press(bot.endpoint, first, "approve", aad_object_id="oid-lead_a"))
    assert "next stage" in text
    # A new press of the first stage's card (a client still showing its buttons).
    _c, text = answered(bot.press(bot.endpoint, first, "approve", aad_object_id="oid-lead_a"))
    assert "no longer waiting; nothing was counted" in text
    assert stage_votes(key) == {"Lead": 1, "Budget owner": 0}
    answered(bot.press(bot.endpoint, card(bot, after=1), "approve", aad_object_id="oid-lead_a"))
    key.refresh_from_db()
    assert key.status == Status.APPROVED and stage_votes(key) == {"Lead": 1, "Budget owner": 1}


def test_a_replayed_press_is_not_counted_again(org, bot, same_lead_twice):
    key = submit_key(org)
    answered(bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-lead_a"))
    _c, text = answered(bot.replay())
    assert "not counted again" in text
    assert stage_votes(key) == {"Lead": 1, "Budget owner": 0}


def test_two_copies_of_one_press_at_once_count_once(org, bot, same_lead_twice):
    key = submit_key(org)
    bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-lead_a", send=False)
    barrier = threading.Barrier(2)
    texts = []

    def send():
        barrier.wait()
        texts.append(answered(bot.replay())[1])

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(texts) == 2 and sum("not counted again" in t for t in texts) == 1
    assert stage_votes(key) == {"Lead": 1, "Budget owner": 0}


def test_a_delegate_decides_from_teams_for_the_away_lead(org, bot):
    make_policy(org["a"], LEADS)
    deputy = make_user("deputy")
    today = timezone.localdate()
    delegation.create(delegator=org["lead_a"], delegate=deputy, starts_on=today, ends_on=today,
                      actor=org["lead_a"])  # fmt: skip
    key = submit_key(org)
    answered(bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-deputy"))
    key.refresh_from_db()
    vote = StageDecision.objects.get(stage__object_id=key.pk)
    assert key.status == Status.APPROVED and key.decided_by == deputy
    assert vote.actor == deputy and vote.counted_for == org["lead_a"]


def test_a_japanese_press_gets_a_japanese_card(org, bot):
    make_policy(org["a"], LEADS)
    submit_key(org, requester="lead_a")
    response = bot.press(bot.endpoint, card(bot), "approve", aad_object_id="oid-lead_a",
                         locale="ja-JP")  # fmt: skip
    _c, text = answered(response)
    assert text == "自分の申請は判断できません。"


def test_activities_that_are_not_presses_are_acknowledged(org, bot):
    make_policy(org["a"], LEADS)
    submit_key(org)
    posted = card(bot)
    update = bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a",
                       type="conversationUpdate", name=None, value=None)  # fmt: skip
    assert update.status_code == 200 and update.content == b""
    other = bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a",
                      name="task/fetch")  # fmt: skip
    assert other.status_code == 501
    unreadable = {"action": {"type": "Action.Execute", "verb": "approve"}}  # no data
    garbage = bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a",
                        value=unreadable)  # fmt: skip
    assert garbage.status_code == 200 and garbage.json()["statusCode"] == 400
    assert not StageDecision.objects.exists()


def test_without_a_bot_the_endpoint_is_not_there(client, settings):
    settings.TEAMS_BOT_APP_ID = ""
    assert client.post("/integrations/teams/messages", {}).status_code == 404


def test_a_bot_that_cannot_post_keeps_the_link_card(org, settings):
    """The app id alone (no secret or conversation to post to): the webhook's link card."""
    settings.TEAMS_BOT_APP_ID = APP_ID
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    posted = chat.teams_card(key, engine.current_stage(key))["attachments"][0]["content"]
    assert [a["type"] for a in posted["actions"]] == ["Action.OpenUrl", "Action.OpenUrl"]


@pytest.mark.parametrize("where", ["http-not-allowed", "metadata-down"])
def test_keys_that_cannot_be_fetched_refuse_the_press(org, bot, settings, where):
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    posted = card(bot)
    if where == "http-not-allowed":
        settings.TEAMS_BOT_ALLOW_HTTP_METADATA = False  # keys come over HTTPS only
    else:
        settings.TEAMS_BOT_OPENID_METADATA_URL = f"{bot.base_url}/v1/missing"
    refused(bot, key, bot.press(bot.endpoint, posted, "approve", aad_object_id="oid-lead_a"))
    assert bot.jwks_fetches == 0


def test_a_bot_that_cannot_post_leaves_the_request_waiting(org, bot, settings, caplog):
    settings.TEAMS_BOT_APP_PASSWORD = "not-the-secret"
    make_policy(org["a"], LEADS)
    key = submit_key(org)
    wait_for(lambda: "chat post failed" in caplog.text, timeout=10)
    assert bot.posted == [] and engine.current_stage(key).name == "Lead"
