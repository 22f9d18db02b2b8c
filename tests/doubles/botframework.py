"""A Bot Framework double: the connector's side of the published protocol, as a bot sees it.

Served (as ``login.botframework.com`` serves them):

* ``GET /v1/.well-known/openidconfiguration``: ``issuer`` ``https://api.botframework.com``,
  ``authorization_endpoint``, ``jwks_uri``, ``id_token_signing_alg_values_supported``
  (RS256), ``token_endpoint_auth_methods_supported``;
* ``GET /v1/.well-known/keys``: the RSA keys in use (``kty``, ``use``, ``kid``, ``x5t``, ``n``,
  ``e``) each with its ``endorsements`` (the channels it signs for, ``msteams`` among them);
  :meth:`rotate` replaces them mid-test.

The bot's way out, as the Bot Connector serves it:

* ``POST /botframework.com/oauth2/v2.0/token`` (the Microsoft identity platform's client
  credentials grant, form-encoded: ``client_id``, ``client_secret``, ``scope``
  ``https://api.botframework.com/.default``) → ``{"token_type", "expires_in",
  "access_token"}``; a wrong secret answers 401 ``invalid_client``;
* ``POST {serviceUrl}/v3/conversations/{conversationId}/activities`` with that bearer token →
  201 ``{"id"}``; the activity is kept in :attr:`posted` (401 for any other token).

And the person in Teams: :meth:`press` builds the ``invoke`` activity named
``adaptiveCard/action`` that Teams sends when an ``Action.Execute`` button of a card is
pressed (``value.action`` = the button's ``type``, ``title``, ``verb``, ``data``;
``from.aadObjectId``; ``serviceUrl``; ``channelId`` ``msteams``), and POSTs it to the bot's
messaging endpoint with ``Authorization: Bearer`` a connector token: RS256, ``kid`` and
``x5t`` in the header, ``iss``, ``aud`` (the bot's app id), ``nbf``, ``exp`` and
``serviceurl``, as the connector signs them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from ..servers import MethodHandler, ServedDouble
from .ci_oidc import SigningKey

ISSUER = "https://api.botframework.com"
CONVERSATION = "19:approvals@thread.tacv2"


class _Handler(MethodHandler):
    server: Any

    def dispatch(self, method: str) -> None:
        double: BotFramework = self.server.double
        body = self.body()
        auth = self.headers.get("Authorization", "")
        status, payload = double.handle(method, self.path, body, auth)
        self.send_json(status, payload)


class BotFramework(ServedDouble):
    def __init__(self, app_id: str, app_password: str = "bot-secret") -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.access_tokens: set[str] = set()
        self.posted: list[dict] = []  # activities the bot posted, in order
        self._lock = threading.Lock()
        self.keys: list[tuple[SigningKey, list[str]]] = [(SigningKey(), ["msteams", "webchat"])]
        self.metadata_fetches = 0
        self.jwks_fetches = 0
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []  # url, body, headers
        self.serve_with(_Handler)

    @property
    def service_url(self) -> str:
        return f"{self.base_url}/teams/"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/botframework.com/oauth2/v2.0/token"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[0][0]

    def handle(self, method: str, path: str, body: bytes, auth: str) -> tuple[int, dict]:
        if method == "POST":
            return self._post(path, body, auth)
        with self._lock:
            if path == "/v1/.well-known/openidconfiguration":
                self.metadata_fetches += 1
                return 200, {
                    "issuer": ISSUER,
                    "authorization_endpoint": "https://invalid.botframework.com",
                    "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                }
            if path == "/v1/.well-known/keys":
                self.jwks_fetches += 1
                keys = [self._published(key, endorsements) for key, endorsements in self.keys]
                return 200, {"keys": keys}
        return 404, {"error": "not found"}

    def _post(self, path: str, body: bytes, auth: str) -> tuple[int, dict]:
        if path == "/botframework.com/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("grant_type") != "client_credentials" or form.get("scope") != (
                "https://api.botframework.com/.default"
            ):
                return 400, {"error": "invalid_request"}
            if (form.get("client_id"), form.get("client_secret")) != (
                self.app_id,
                self.app_password,
            ):
                return 401, {"error": "invalid_client"}
            token = secrets.token_urlsafe(32)
            with self._lock:
                self.access_tokens.add(token)
            return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        prefix, suffix = "/teams/v3/conversations/", "/activities"
        if path.startswith(prefix) and path.endswith(suffix):
            if auth.removeprefix("Bearer ") not in self.access_tokens:
                return 401, {"message": "Authorization has been denied for this request."}
            if unquote(path[len(prefix) : -len(suffix)]) != CONVERSATION:
                return 404, {"error": {"code": "ConversationNotFound"}}
            activity = json.loads(body)
            with self._lock:
                self.posted.append(activity)
            return 201, {"id": f"1:{uuid.uuid4().hex}"}
        return 404, {"error": "not found"}

    @staticmethod
    def _published(key: SigningKey, endorsements: list[str]) -> dict:
        jwk = {k: v for k, v in key.jwk.items() if k != "alg"}  # Microsoft's keys carry no alg
        return {**jwk, "endorsements": endorsements}

    def rotate(self, endorsements: tuple[str, ...] = ("msteams", "webchat")) -> SigningKey:
        """Publish a new key in place of the old ones; tokens are signed with it from now."""
        with self._lock:
            self.keys = [(SigningKey(), list(endorsements))]
        return self.signing_key

    def revoke_tokens(self) -> None:
        """The connector forgets every token it issued (a secret rotated, a token revoked)."""
        with self._lock:
            self.access_tokens.clear()

    # --- the connector's token and the person's press --------------------------------------
    def token(self, *, key: SigningKey | None = None, kid: str | None = None, **claims) -> str:
        now = int(time.time())
        payload = {
            "serviceurl": self.service_url,
            "nbf": now - 5,
            "exp": now + 3600,
            "iss": ISSUER,
            "aud": self.app_id,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return (key or self.signing_key).sign(payload, kid=kid)

    def activity(self, card: dict, verb: str, *, aad_object_id: str, locale="en-US") -> dict:
        """The invoke Teams sends for a press of the card's ``Action.Execute`` ``verb``."""
        [action] = [a for a in card["actions"] if a.get("verb") == verb]
        return {
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": f"f:{uuid.uuid4().int}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": f"29:{uuid.uuid4()}", "name": "Someone", "aadObjectId": aad_object_id},
            "conversation": {
                "isGroup": True,
                "conversationType": "channel",
                "id": f"{CONVERSATION};messageid=1700000000000",
            },
            "recipient": {"id": f"28:{self.app_id}", "name": "Portal"},
            "locale": locale,
            "value": {
                "action": {k: action[k] for k in ("type", "title", "verb", "data")},
                "trigger": "manual",
            },
        }

    def press(
        self,
        endpoint: str,
        card: dict,
        verb: str,
        *,
        aad_object_id: str,
        token: str | None = None,
        send: bool = True,
        **changes,
    ) -> httpx.Response | None:
        """Press a button of ``card``; ``changes`` override fields of the activity."""
        activity = {**self.activity(card, verb, aad_object_id=aad_object_id), **changes}
        body = json.dumps(activity).encode()
        headers = {
            "Authorization": f"Bearer {token or self.token()}",
            "Content-Type": "application/json; charset=utf-8",
        }
        self.sent.append((endpoint, body, headers))
        return self.replay() if send else None

    def replay(self) -> httpx.Response:
        """The last press again: the same activity and token."""
        endpoint, body, headers = self.sent[-1]
        return httpx.post(endpoint, content=body, headers=headers, timeout=30)
