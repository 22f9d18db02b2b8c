"""A Teams incoming-webhook double: accepts what a Teams (Workflows / Office 365 connector)
incoming webhook accepts, a JSON message, answers ``1`` like the connector does, and keeps
what it received."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TeamsWebhookDouble:
    def __init__(self) -> None:
        self.received: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhookb2/portal-approvals"

    def start(self) -> TeamsWebhookDouble:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
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
