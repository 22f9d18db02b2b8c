"""The Teams bot's messaging endpoint: an ``Action.Execute`` press becomes a decision.

Teams (the Bot Framework connector) POSTs activities here with its bearer token
(``teams.verify``). An ``invoke`` named ``adaptiveCard/action`` is a press: it is decided as the
portal user whose Entra object id is the activity's ``from.aadObjectId``, with every rule
(``chat.decide_press``), counted once per activity, and answered with the card that replaces
the pressed one. Other activities (the bot installed, a message to it) are acknowledged.
"""

from __future__ import annotations

import datetime
import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tenants.models import User

from . import chat, teams
from .engine import Shown
from .models import ChatInteraction

log = logging.getLogger(__name__)


def pressed(activity: dict) -> tuple[chat.Button, bool]:
    """The button and the verb of an ``adaptiveCard/action`` invoke (ValueError, KeyError or
    TypeError for anything else)."""
    action = activity["value"]["action"]
    if action.get("type") != "Action.Execute":
        raise ValueError("not an Action.Execute")
    data = action["data"]
    approve = teams.VERBS[action.get("verb") or data["verb"]]
    shown = Shown(int(data["stage"]), int(data["policy"]))
    return chat.Button(str(data["kind"]), int(data["request"]), shown), approve


def _language(locale: object) -> str:
    try:
        return translation.get_supported_language_variant(str(locale or ""))
    except LookupError:
        return translation.get_language()


@login_not_required  # Teams is not signed in: the Bot Framework token is the authentication
@csrf_exempt
@require_POST
def teams_messages(request):
    if not teams.bot_configured():
        raise Http404
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        return HttpResponse(status=401)
    try:
        activity = json.loads(request.body)
        if not isinstance(activity, dict):
            raise ValueError("not an object")
    except ValueError:
        return HttpResponse(status=400)
    try:
        claims = teams.verify(authorization, activity)
    except teams.Refused as exc:
        log.warning("teams request refused", extra={"reason": str(exc)})
        return HttpResponse(status=401)
    if activity.get("type") != "invoke":
        return HttpResponse(status=200)  # installed, a message, a member added: nothing to do
    if activity.get("name") != "adaptiveCard/action":
        return HttpResponse(status=501)  # the protocol's answer to an invoke a bot does not do
    with translation.override(_language(activity.get("locale"))):
        return JsonResponse(_answer(activity, claims))


def _answer(activity: dict, claims: dict) -> dict:
    try:
        button, approve = pressed(activity)
        press = teams.press_id(activity)
    except (KeyError, ValueError, TypeError):
        return teams.error_response(400, "BadRequest", _("This button cannot be read."))
    teams_user = str((activity.get("from") or {}).get("aadObjectId") or "")
    expires = datetime.datetime.fromtimestamp(claims["exp"] + teams.LEEWAY_SECONDS, datetime.UTC)
    if not ChatInteraction.first_time(press, expires):
        log.warning("teams request refused: a replay", extra={"aad_object_id": teams_user})
        text = _("This button press was already received; it was not counted again.")
        return teams.card_response(teams.result_card(text, decided=False))
    user = User.objects.filter(entra_oid=teams_user, is_active=True).first() if teams_user else None
    if user is None:
        text = _("Your Teams account is not linked to a portal user: sign in to the portal once.")
        return teams.card_response(teams.result_card(text, decided=False))
    decided, text, obj = chat.decide_press(user, button, approve, via="teams")
    log.info("teams press", extra={"user": user.pk, "decided": decided})
    return teams.card_response(teams.result_card(text, obj, decided=decided))
