"""Approvals in chat.

Slack: an interactive message with Approve / Reject buttons (``chat.postMessage``); a press
comes back to :func:`views_chat.slack_interactions`, signed with the app's signing secret
(``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``); the portal decides it with every rule
applied and updates the message through its ``response_url``.

Teams: an Adaptive Card through an incoming webhook; its buttons open the portal's decision
page (incoming webhooks cannot receive button presses).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from tenants import languages

from . import registry
from .engine import Shown
from .models import Policy

log = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 300  # Slack's own advice: refuse requests older than five minutes


def _link(obj) -> str:
    return f"{settings.SITE_URL}{obj.decide_url()}"


# --- Slack ------------------------------------------------------------------------------------
def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_verified(body: bytes, timestamp: str, signature: str, *, now: float | None = None):
    """True only for a request signed with our secret within the last five minutes."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret or not timestamp or not signature:
        return False
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(slack_signature(secret, timestamp, body), signature)


def button_value(obj, stage) -> str:
    """What a button carries back: the request, the stage it was shown for and the version of
    the department's policy it was rendered under (``kind:pk:stage:version``)."""
    version = Policy.version_for(obj.department_id) or 0
    return f"{registry.label(obj)}:{obj.pk}:{stage.pk}:{version}"


@dataclass(frozen=True)
class Button:
    kind_label: str
    pk: int
    shown: Shown | None  # None: a message from before buttons were bound to their stage


def parse_button(value: str) -> Button:
    """``kind:pk:stage:version`` (ValueError for anything else); the three-part value of
    earlier messages parses with no stage, so it decides nothing."""
    parts = value.split(":")
    if len(parts) == 3:
        return Button(parts[0], int(parts[1]), None)
    kind_label, pk, stage, version = parts
    return Button(kind_label, int(pk), Shown(int(stage), int(version)))


def slack_message(obj, stage) -> dict:
    value = button_value(obj, stage)
    text = _("%(requester)s asks for %(name)s (%(department)s). Stage: %(stage)s.") % {
        "requester": obj.requester,
        "name": obj,
        "department": obj.department,
        "stage": stage.name,
    }
    return {
        "channel": settings.SLACK_CHANNEL,
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n<{_link(obj)}>"}},
            {
                "type": "actions",
                "block_id": f"decide-{stage.pk}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approve",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": _("Approve")},
                        "value": value,
                    },
                    {
                        "type": "button",
                        "action_id": "reject",
                        "style": "danger",
                        "text": {"type": "plain_text", "text": _("Reject")},
                        "value": value,
                    },
                ],
            },
        ],
    }


def post_slack(payload: dict) -> None:
    response = httpx.post(
        f"{settings.SLACK_API_URL.rstrip('/')}/chat.postMessage",
        json=payload,
        headers={"Authorization": f"Bearer {settings.SLACK_BOT_TOKEN}"},
        timeout=5,
    )
    response.raise_for_status()
    if not response.json().get("ok"):
        raise httpx.HTTPError(f"slack refused: {response.json().get('error')}")


def respond(response_url: str, text: str, *, replace: bool = True) -> None:
    """Update (or answer beside) the message whose button was pressed."""
    payload = {"replace_original": replace, "text": text}
    if not replace:
        payload["response_type"] = "ephemeral"
    try:
        httpx.post(response_url, json=payload, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("slack response_url failed", extra={"error": str(exc)})


# --- Teams ------------------------------------------------------------------------------------
def teams_card(obj, stage) -> dict:
    """The message an incoming webhook takes: one Adaptive Card (schema 1.4)."""
    link = _link(obj)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": _("Approval needed: %(name)s") % {"name": obj},
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {
                "type": "FactSet",
                "facts": [
                    {"title": _("Requester"), "value": str(obj.requester)},
                    {"title": _("Department"), "value": str(obj.department)},
                    {"title": _("Stage"), "value": stage.name},
                ],
            },
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": _("Approve"), "url": f"{link}?decision=approve"},
            {"type": "Action.OpenUrl", "title": _("Reject"), "url": f"{link}?decision=reject"},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def post_teams(payload: dict) -> None:
    httpx.post(settings.TEAMS_WEBHOOK_URL, json=payload, timeout=5).raise_for_status()


def announce_on_commit(obj, stage) -> None:
    """Post the stage to the configured channels once the transaction commits."""
    if not (settings.SLACK_BOT_TOKEN and settings.SLACK_CHANNEL) and not settings.TEAMS_WEBHOOK_URL:
        return
    with translation.override(languages.of_department(obj.department)):  # a shared channel
        slack = slack_message(obj, stage) if settings.SLACK_BOT_TOKEN else None
        teams = teams_card(obj, stage) if settings.TEAMS_WEBHOOK_URL else None

    def send() -> None:
        for post, payload in ((post_slack, slack), (post_teams, teams)):
            if payload is None:
                continue
            try:
                post(payload)
            except httpx.HTTPError as exc:  # chat is a convenience; mail already went
                log.warning("chat post failed", extra={"error": str(exc)})

    transaction.on_commit(send)
