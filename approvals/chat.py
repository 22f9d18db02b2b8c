"""Approvals in chat.

Slack: an interactive message with Approve / Reject buttons (``chat.postMessage``); a press
comes back to :func:`views_chat.slack_interactions`, signed with the app's signing secret
(``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``); the portal decides it with every rule
applied and updates the message through its ``response_url``.

Teams: an Adaptive Card through an incoming webhook (``teams.py``); its buttons decide through
the Teams bot where one is configured, else they open the portal's decision page.

Both decide a press through :func:`decide_press`, so the rules are the same everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from tenants import languages

from . import engine, notify, registry
from .engine import Shown
from .models import Policy
from .teams import enabled as teams_enabled
from .teams import post_teams, teams_card

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


def announce_on_commit(obj, stage) -> None:
    """Post the stage to the configured channels once the transaction commits."""
    if not (settings.SLACK_BOT_TOKEN and settings.SLACK_CHANNEL) and not teams_enabled():
        return
    with translation.override(languages.of_department(obj.department)):  # a shared channel
        slack = slack_message(obj, stage) if settings.SLACK_BOT_TOKEN else None
        teams = teams_card(obj, stage) if teams_enabled() else None

    def send() -> None:
        for post, payload in ((post_slack, slack), (post_teams, teams)):
            if payload is None:
                continue
            try:
                post(payload)
            except httpx.HTTPError as exc:  # chat is a convenience; mail already went
                log.warning("chat post failed", extra={"error": str(exc)})

    transaction.on_commit(send, robust=True)


def decide_press(user, button: Button, approve: bool, *, via: str) -> tuple[bool, str, object]:
    """A chat button press by a portal user, decided with every rule the pages apply (the
    stage it was shown for, delegation, quorum, never one's own request; audited by the
    engine). Returns (decided?, what to tell the presser, the request or None)."""
    kind = registry.KINDS.get(button.kind_label)
    obj = kind.model._default_manager.filter(pk=button.pk).first() if kind else None
    if obj is None or not obj.can_view(user):
        return False, _("You cannot decide this request."), None
    if button.shown is None:
        text = _("This message is out of date; nothing was counted. Decide on the portal.")
        return False, text, obj
    if getattr(obj, "requester_id", None) == user.pk:
        return False, _("You cannot decide your own request."), obj
    rejected_in = {"slack": _("Rejected in Slack."), "teams": _("Rejected in Teams.")}
    comment = "" if approve else rejected_in[via]
    try:
        result = engine.decide(
            obj, actor=user, approve=approve, comment=comment, via=via, shown=button.shown
        )
    except PermissionDenied:
        return False, _("You cannot decide this request."), obj
    except ValidationError as exc:
        return False, " ".join(exc.messages), obj
    texts = {
        "approved": _("%(name)s: approved by %(who)s."),
        "rejected": _("%(name)s: rejected by %(who)s."),
        "next-stage": _("%(name)s: approved by %(who)s; now waiting for the next stage."),
        "voted": _("%(name)s: %(who)s approved; more approvals needed."),
    }
    text = texts[result] % {"name": obj, "who": user}
    if result == "approved":
        changed = notify.lowered_text(obj)  # earlier stages may have lowered what was asked
        if changed:
            text += " " + _("Changed at approval: %(changes)s") % {"changes": changed}
    return True, text, obj
