"""A forwarding HTTP proxy between the portal and the real LiteLLM, for fault tests.

It passes requests through unchanged, and can: hold the response of one path forever (so the
caller dies after LiteLLM acted but before it heard back), hold a path's requests until a
second one comes and then forward both at once, or answer 503 for a while. The soak
(bench/soak.py) also sets, each until a moment (``time.monotonic()``): added latency, a burst
of 5xx answers, connections reset without an answer, and answers held longer than the
client's timeout after LiteLLM acted.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import httpx

from .servers import QuietHandler, serve, shut


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A caller that gave up (a timeout fault) or a connection reset on purpose is the
        point of the exercise, not an error to print."""
        if not isinstance(sys.exc_info()[1], (OSError, ValueError)):
            super().handle_error(request, client_address)


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold_paths: set[str] = set()
        self.held = threading.Event()  # set once a held response has been swallowed
        self.down = False
        self.calls: list[str] = []
        # The soak's faults: (until, value) pairs; a fault is on while until > monotonic().
        self.latency = (0.0, 0.0)  # seconds added before forwarding
        self.burst = (0.0, 502)  # answer this status without forwarding
        self.resets = 0.0  # close the connection without an answer (RST)
        self.hang = (0.0, 0.0)  # forward, then hold the answer this many seconds
        # path -> barrier: requests wait there before forwarding, then go on together (an
        # attempt whose caller gave up reaching LiteLLM at the same moment as its retry).
        self.gates: dict[str, threading.Barrier] = {}
        self.forwarded: list[str] = []
        proxy = self

        class Handler(QuietHandler):
            def _forward(self):
                path = self.path.split("?")[0]
                proxy.calls.append(f"{self.command} {path}")
                now = time.monotonic()
                if proxy.latency[0] > now:
                    time.sleep(proxy.latency[1])
                if proxy.resets > now:
                    self.body()
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if proxy.down or proxy.burst[0] > now:
                    self._answer(503 if proxy.down else proxy.burst[1], b"upstream down")
                    return
                body = self.body()
                if path in proxy.gates:
                    proxy.gates[path].wait(timeout=60)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                try:
                    response = httpx.request(
                        self.command,
                        proxy.upstream + self.path,
                        content=body,
                        headers=headers,
                        timeout=60,
                    )
                except httpx.HTTPError:  # LiteLLM restarting: what a gateway would say
                    self._answer(502, b"upstream unreachable")
                    return
                proxy.forwarded.append(f"{self.command} {path} {response.status_code}")
                if proxy.hang[0] > time.monotonic():
                    time.sleep(proxy.hang[1])  # LiteLLM acted; the caller gave up meanwhile
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

            def _answer(self, status: int, detail: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"detail": "' + detail + b' (fault proxy)"}')

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _forward

        self.server = serve(_Server(("127.0.0.1", 0), Handler), "fault-proxy")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        shut(self.server)
