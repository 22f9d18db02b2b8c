"""A Teams incoming-webhook double: accepts what a Teams (Workflows / Office 365 connector)
incoming webhook accepts, a JSON message, answers ``1`` like the connector does, and keeps
what it received."""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer

from ..servers import HTTPDouble, QuietHandler


class TeamsWebhookDouble(HTTPDouble):
    def __init__(self) -> None:
        self.received: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhookb2/portal-approvals"

    def _handler(self):
        double = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.body()
                ok = self.path == "/webhookb2/portal-approvals" and self.headers.get(
                    "Content-Type", ""
                ).startswith("application/json")
                try:
                    message = json.loads(body)
                except ValueError:
                    ok = False
                if not ok:
                    self.send_response(400)
                    self.end_headers()
                    return
                double.received.append(message)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"1")

        return Handler
