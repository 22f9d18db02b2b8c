"""A Slack double: a real HTTP server speaking the parts of Slack's wire format the portal
uses, and a "person" who presses buttons the way Slack delivers it.

Served:

* ``POST /api/chat.postMessage`` (Bearer bot token; JSON body). Like Slack, it answers HTTP
  200 with ``{"ok": false, "error": "invalid_auth" | "channel_not_found" | ...}`` on errors
  and ``{"ok": true, "channel", "ts", "message"}`` on success.
* ``POST /response/{ts}``: the message's ``response_url`` (``replace_original``,
  ``response_type: ephemeral``); answers ``ok`` as text.

:meth:`press` builds a ``block_actions`` interaction payload for a button of a posted message,
form-encodes it as ``payload=...``, signs it like Slack (``X-Slack-Request-Timestamp``,
``X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``) and POSTs it to the portal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import urlencode

import httpx

from ..servers import HTTPDouble, QuietHandler


class SlackDouble(HTTPDouble):
    def __init__(self, *, bot_token: str = "xoxb-test-token", signing_secret: str = "s3cr3t"):
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.channels = {"C0APPROVALS": "approvals"}
        self.messages: dict[str, dict] = {}  # ts → message as posted (then as updated)
        self.posted: dict[str, dict] = {}  # ts → message as posted (a stale client shows it)
        self.sent: list[tuple[str, bytes, dict]] = []  # every press, as sent: url, body, headers
        self.responses: list[dict] = []  # every response_url call, in order
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    # --- the user's side --------------------------------------------------------------------
    def press(
        self,
        portal_url: str,
        ts: str,
        action_id: str,
        *,
        user_id: str,
        timestamp: int | None = None,
        secret: str | None = None,
        tamper: bool = False,
        as_posted: bool = False,
        send: bool = True,
    ) -> httpx.Response | None:
        """Press a button of message ``ts``; ``as_posted``: on the message as it was posted
        (a client that has not seen the update yet still shows the old buttons). With
        ``send=False`` the signed request is only kept, for :meth:`replay`."""
        message = (self.posted if as_posted else self.messages)[ts]
        button = next(
            element
            for block in message["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == action_id
        )
        block_id = next(b["block_id"] for b in message["blocks"] if b["type"] == "actions")
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "team_id": "T0PORTAL"},
            "api_app_id": "A0PORTAL",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}",
            "team": {"id": "T0PORTAL", "domain": "example"},
            "channel": {"id": message["channel"], "name": self.channels[message["channel"]]},
            "message": message,
            "response_url": f"{self.url}/response/{ts}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button["value"],
                    "style": button.get("style"),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        base = b"v0:" + stamp.encode() + b":" + body
        key = (secret or self.signing_secret).encode()
        signature = "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()
        if tamper:
            body = body.replace(b"approve", b"reject")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        self.sent.append((portal_url, body, headers))
        if not send:
            return None
        return httpx.post(portal_url, content=body, headers=headers, timeout=30)

    def replay(self, index: int = -1) -> httpx.Response:
        """Send a press again, byte for byte: the same body, timestamp and signature (what
        someone who captured the request can do inside the five-minute window)."""
        portal_url, body, headers = self.sent[index]
        return httpx.post(portal_url, content=body, headers=headers, timeout=30)

    # --- the server side ------------------------------------------------------------------
    def _post_message(self, headers, body: bytes) -> dict:
        if headers.get("Authorization") != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        try:
            data = json.loads(body)
        except ValueError:
            return {"ok": False, "error": "invalid_json"}
        if data.get("channel") not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not data.get("text") and not data.get("blocks"):
            return {"ok": False, "error": "no_text"}
        for block in data.get("blocks", []):
            if block.get("type") not in ("section", "actions", "context", "divider"):
                self.errors.append(f"unknown block type {block.get('type')}")
                return {"ok": False, "error": "invalid_blocks"}
            for element in block.get("elements", []) if block["type"] == "actions" else []:
                if len(element.get("value", "")) > 2000 or len(element.get("action_id", "")) > 255:
                    return {"ok": False, "error": "invalid_blocks"}
        ts = f"{time.time():.6f}"
        message = {**data, "ts": ts, "type": "message", "bot_id": "B0PORTAL"}
        self.messages[ts] = self.posted[ts] = message
        return {"ok": True, "channel": data["channel"], "ts": ts, "message": message}

    def _respond(self, ts: str, body: bytes) -> None:
        data = json.loads(body)
        self.responses.append({"ts": ts, **data})
        if data.get("replace_original") and data.get("response_type") != "ephemeral":
            self.messages[ts] = {**self.messages[ts], "text": data["text"], "blocks": []}

    def _handler(self):
        double = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.body()
                if self.path == "/api/chat.postMessage":
                    reply = json.dumps(double._post_message(self.headers, body)).encode()
                    content_type = "application/json; charset=utf-8"
                elif self.path.startswith("/response/"):
                    ts = self.path.removeprefix("/response/")
                    if ts not in double.messages:
                        self.send_response(404)
                        self.end_headers()
                        return
                    double._respond(ts, body)
                    reply, content_type = b"ok", "text/plain"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler
