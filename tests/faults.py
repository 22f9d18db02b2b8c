"""A forwarding HTTP proxy between the portal and the real LiteLLM, for fault tests.

It passes requests through unchanged, and can: hold the response of one path forever (so the
caller dies after LiteLLM acted but before it heard back), or answer 503 for a while.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import httpx

from .servers import QuietHandler, serve, shut


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold_paths: set[str] = set()
        self.held = threading.Event()  # set once a held response has been swallowed
        self.down = False
        self.calls: list[str] = []
        proxy = self

        class Handler(QuietHandler):
            def _forward(self):
                path = self.path.split("?")[0]
                proxy.calls.append(f"{self.command} {path}")
                if proxy.down:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"detail": "upstream down (fault proxy)"}')
                    return
                body = self.body()
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                response = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=body,
                    headers=headers,
                    timeout=60,
                )
                if path in proxy.hold_paths:
                    proxy.hold_paths.discard(path)
                    proxy.held.set()
                    threading.Event().wait(600)  # LiteLLM acted; the caller never hears back
                    return
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "content-encoding",
                        "connection",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _forward

        self.server = serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler), "fault-proxy")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        shut(self.server)
