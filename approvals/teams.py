"""Approvals in Microsoft Teams: the Adaptive Card a stage posts, and the bot that decides.

Without a bot the card goes to the incoming webhook and its buttons open the portal's decision
page: an incoming webhook cannot receive a press. With one, the bot posts the card itself
(Teams routes a press only to the bot that sent the card) and Approve and Reject are
``Action.Execute`` buttons (Universal Actions): Teams sends the press to the bot's messaging
endpoint as an ``invoke`` activity named ``adaptiveCard/action``, which
``views_teams.teams_messages`` decides with every rule a Slack press has, and answers with a
card saying what happened.

The endpoint trusts a request only with a Bot Framework token, checked as Microsoft publishes
it (connector to bot): keys from the OpenID metadata's ``jwks_uri`` (``portal/jwks.py``),
RS256, ``iss`` ``https://api.botframework.com``, ``aud`` the bot's app id, ``exp``/``nbf`` with
five minutes of leeway, the signing key endorsed for the activity's ``channelId``, and the
token's ``serviceurl`` claim equal to the activity's ``serviceUrl``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from urllib.parse import quote

import httpx
import jwt
from django.conf import settings
from django.utils.translation import gettext as _

from portal.jwks import KeySource, KeysUnavailable, UnknownKey

from . import registry
from .models import Policy

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
ERROR_TYPE = "application/vnd.microsoft.error"
LEEWAY_SECONDS = 300  # the Bot Framework's own clock tolerance
VERBS = {"approve": True, "reject": False}
_tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (token URL, app id) → token, until
_tokens_lock = threading.Lock()


def bot_configured() -> bool:
    """The bot's endpoint takes presses (its app id is set)."""
    return bool(settings.TEAMS_BOT_APP_ID)


def bot_posts() -> bool:
    """The bot posts the cards itself, so their buttons can decide: Teams sends a press only
    to the bot that sent the card."""
    return bot_configured() and all(
        (
            settings.TEAMS_BOT_APP_PASSWORD,
            settings.TEAMS_BOT_SERVICE_URL,
            settings.TEAMS_BOT_CONVERSATION_ID,
        )
    )


def enabled() -> bool:
    return bot_posts() or bool(settings.TEAMS_WEBHOOK_URL)


# --- cards ------------------------------------------------------------------------------------
def _card(body: list[dict], actions: list[dict]) -> dict:
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }


def _text(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def portal_link(obj) -> str:
    return f"{settings.SITE_URL}{obj.decide_url()}"


def _open(obj) -> dict:
    return {"type": "Action.OpenUrl", "title": _("Open in the portal"), "url": portal_link(obj)}


def button_data(obj, stage, verb: str) -> dict:
    """What an ``Action.Execute`` button carries back: the verb, the request, the stage it was
    shown for and the version of the department's policy it was rendered under."""
    return {
        "verb": verb,
        "kind": registry.label(obj),
        "request": obj.pk,
        "stage": stage.pk,
        "policy": Policy.version_for(obj.department_id) or 0,
    }


def approval_card(obj, stage) -> dict:
    """The card a stage posts (schema 1.4): buttons that decide through the bot, or links."""
    body = [
        _text(_("Approval needed: %(name)s") % {"name": obj}, weight="Bolder", size="Medium"),
        {
            "type": "FactSet",
            "facts": [
                {"title": _("Requester"), "value": str(obj.requester)},
                {"title": _("Department"), "value": str(obj.department)},
                {"title": _("Stage"), "value": stage.name},
            ],
        },
    ]
    if not bot_posts():
        link = portal_link(obj)
        return _card(body, [
            {"type": "Action.OpenUrl", "title": _("Approve"), "url": f"{link}?decision=approve"},
            {"type": "Action.OpenUrl", "title": _("Reject"), "url": f"{link}?decision=reject"},
        ])  # fmt: skip
    execute = [
        {
            "type": "Action.Execute",
            "title": title,
            "verb": verb,
            "style": style,
            "data": button_data(obj, stage, verb),
        }
        for verb, title, style in (
            ("approve", _("Approve"), "positive"),
            ("reject", _("Reject"), "destructive"),
        )
    ]
    return _card(body, [*execute, _open(obj)])


def result_card(text: str, obj=None, *, decided: bool) -> dict:
    """What the presser sees after a press: what happened, or why nothing was counted."""
    style = {"weight": "Bolder"} if decided else {"color": "Attention"}
    return _card([_text(text, **style)], [_open(obj)] if obj is not None else [])


def teams_card(obj, stage) -> dict:
    """The message an incoming webhook takes: one Adaptive Card."""
    attachment = {
        "contentType": CARD_TYPE,
        "contentUrl": None,
        "content": approval_card(obj, stage),
    }
    return {"type": "message", "attachments": [attachment]}


def post_teams(payload: dict) -> None:
    """Post the card: as the bot (a proactive message to the configured conversation,
    ``POST {serviceUrl}/v3/conversations/{id}/activities``), else to the incoming webhook."""
    if not bot_posts():
        httpx.post(settings.TEAMS_WEBHOOK_URL, json=payload, timeout=5).raise_for_status()
        return
    base = settings.TEAMS_BOT_SERVICE_URL.rstrip("/")
    conversation = quote(settings.TEAMS_BOT_CONVERSATION_ID, safe="")
    url = f"{base}/v3/conversations/{conversation}/activities"
    response = httpx.post(url, json=payload, headers=_bearer(), timeout=5)
    if response.status_code == 401:
        # The token was revoked or the app's secret changed: forget it and ask once more.
        _forget_bot_token()
        response = httpx.post(url, json=payload, headers=_bearer(), timeout=5)
    response.raise_for_status()


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {_bot_token()}"}


def _forget_bot_token() -> None:
    with _tokens_lock:
        _tokens.pop((settings.TEAMS_BOT_TOKEN_URL, settings.TEAMS_BOT_APP_ID), None)


def _bot_token() -> str:
    """The bot's own token for the connector (client credentials, scope
    ``https://api.botframework.com/.default``), kept in this process only (never in the shared
    cache: it is a secret) until five minutes before it expires."""
    key = (settings.TEAMS_BOT_TOKEN_URL, settings.TEAMS_BOT_APP_ID)
    with _tokens_lock:
        token, until = _tokens.get(key, ("", 0.0))
    if token and until > time.monotonic():
        return token
    response = httpx.post(
        settings.TEAMS_BOT_TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": settings.TEAMS_BOT_APP_ID,
            "client_secret": settings.TEAMS_BOT_APP_PASSWORD,
            "scope": "https://api.botframework.com/.default",
        },
        timeout=5,
    )
    response.raise_for_status()
    data = response.json()
    token = str(data["access_token"])
    ttl = int(data.get("expires_in", 3600)) - LEEWAY_SECONDS
    with _tokens_lock:
        _tokens[key] = (token, time.monotonic() + ttl)
    return token


def card_response(card: dict) -> dict:
    """The invoke response Universal Actions expects: the card that replaces the pressed one."""
    return {"statusCode": 200, "type": CARD_TYPE, "value": card}


def error_response(status: int, code: str, message: str) -> dict:
    return {"statusCode": status, "type": ERROR_TYPE, "value": {"code": code, "message": message}}


# --- the Bot Framework token ------------------------------------------------------------------
class Refused(Exception):
    """The request does not carry a valid Bot Framework token for this bot and activity."""


def _keys() -> KeySource:
    return KeySource(
        metadata_url=settings.TEAMS_BOT_OPENID_METADATA_URL,
        issuer=settings.TEAMS_BOT_ISSUER,
        cache_seconds=settings.TEAMS_BOT_JWKS_CACHE_SECONDS,
        refetch_seconds=settings.TEAMS_BOT_JWKS_REFETCH_SECONDS,
        timeout=5.0,
        allow_http=settings.TEAMS_BOT_ALLOW_HTTP_METADATA,
        namespace="teams-bot",
    )


def verify(authorization: str, activity: dict) -> dict:
    """The token's verified claims, or :class:`Refused` (the reason, for the log only)."""
    scheme, _sep, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused("no bearer token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Refused("not a JWT") from None
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise Refused("algorithm or key id not accepted")
    try:
        jwk = _keys().key(header["kid"])
        key = jwt.PyJWK(jwk, algorithm="RS256").key
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=settings.TEAMS_BOT_APP_ID,
            issuer=settings.TEAMS_BOT_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iss", "aud"]},
        )
    except KeysUnavailable as exc:
        raise Refused(f"keys unavailable: {exc}") from None
    except UnknownKey:
        raise Refused("unknown signing key") from None
    except jwt.PyJWTError as exc:
        raise Refused(f"token invalid: {type(exc).__name__}") from None
    if activity.get("channelId") not in (jwk.get("endorsements") or []):
        raise Refused("the signing key is not endorsed for this channel")
    service_url = next((v for k, v in claims.items() if k.lower() == "serviceurl"), None)
    if not service_url or service_url != activity.get("serviceUrl"):
        raise Refused("serviceUrl does not match the token")
    return claims


def press_id(activity: dict) -> str:
    """One press: the activity's id in its channel and conversation (a replay repeats it)."""
    conversation = (activity.get("conversation") or {}).get("id", "")
    raw = f"{activity.get('channelId')}|{conversation}|{activity['id']}"
    return "teams:" + hashlib.sha256(raw.encode()).hexdigest()
