"""Slack's interactivity endpoint: a button press becomes a decision, with every rule.

A press counts once, and only for what it was shown for: an exact replay of a signed request
(same bytes, same signature, inside Slack's five-minute window) decides nothing, and neither
does a button of a stage that is no longer current or of a message rendered under an earlier
version of the department's policy. Slack is told why, in the reply to the presser."""

from __future__ import annotations

import datetime
import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import chat
from .models import ChatAccount, ChatInteraction

log = logging.getLogger(__name__)


@login_not_required  # Slack is not signed in: its signature is the authentication
@csrf_exempt
@require_POST
def slack_interactions(request):
    body = request.body
    if not chat.slack_verified(
        body,
        request.headers.get("X-Slack-Request-Timestamp", ""),
        request.headers.get("X-Slack-Signature", ""),
    ):
        log.warning("slack request refused: bad or stale signature")
        return HttpResponse(status=401)
    try:
        payload = json.loads(request.POST["payload"])
        action = payload["actions"][0]
        slack_user = payload["user"]["id"]
        response_url = payload["response_url"]
        button = chat.parse_button(action["value"])
        approve = {"approve": True, "reject": False}[action["action_id"]]
    except (KeyError, IndexError, ValueError, TypeError):
        return HttpResponseBadRequest()
    stamp = int(request.headers["X-Slack-Request-Timestamp"])
    expires = datetime.datetime.fromtimestamp(stamp + chat.MAX_SKEW_SECONDS, datetime.UTC)
    if not ChatInteraction.first_time(request.headers["X-Slack-Signature"], expires):
        log.warning("slack request refused: a replay", extra={"slack_user": slack_user})
        reply = (False, _("This button press was already received; it was not counted again."))
    else:
        reply = _decide(slack_user, button, approve)
    transaction.on_commit(
        lambda: chat.respond(response_url, reply[1], replace=reply[0]), robust=True
    )
    return HttpResponse(status=200)


def _decide(slack_user: str, button: chat.Button, approve: bool) -> tuple[bool, str]:
    """(replace the message?, text). A refusal answers only the presser (ephemeral)."""
    account = ChatAccount.objects.filter(slack_user_id=slack_user).select_related("user").first()
    if account is None or not account.user.is_active:
        return False, _("Your Slack account is not linked to a portal user.")
    decided, text, _obj = chat.decide_press(account.user, button, approve, via="slack")
    return decided, text
