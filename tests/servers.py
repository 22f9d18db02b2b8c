"""Scaffolding shared by the servers the tests start.

* :class:`SubprocessServer`: a server run as a subprocess in its own process group (the real
  LiteLLM proxy, the real Langfuse, a Celery worker), its output kept in a log file, waited
  for until it says it is ready, stopped with everything it started.
* :func:`serve` / :func:`shut` and :class:`QuietHandler`: the in-process HTTP doubles, each a
  ``ThreadingHTTPServer`` on a free port of 127.0.0.1 served from a daemon thread.
* :func:`start_or_fail`, :func:`free_port`, :func:`database_url`, :func:`drop_database`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_DB_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nothing_listens(port: int) -> bool:
    """No server answers on ``port`` (a stopped stack let it go)."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def database_url(name: str, server_url: str = ADMIN_DB_URL) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_url("postgres", url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class SubprocessServer:
    """One server process; subclasses say how to start it (``command``, ``env``) and when it
    is ready (``readiness``)."""

    name = "server"
    poll_interval = 0.5  # seconds between readiness checks

    def __init__(self, log_path: Path, startup_timeout: float) -> None:
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start() took

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Start the server (if not running) and wait until it is ready."""
        if self.running:
            return self
        began = self._spawn(self.command(), self.env(), self.banner())
        self._wait_ready(began, self.readiness, self.poll_interval)
        return self

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def banner(self) -> str:
        """A line for the log before each start."""
        return ""

    def readiness(self) -> str | None:
        """None once the server is ready; else what it saw (for the failure message)."""
        raise NotImplementedError

    def output(self) -> str:
        """The server's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def failure_log(self) -> str:
        """What a failure message shows of the logs."""
        return f"log {self.log_path}:\n{self.output()[-4000:]}"

    def _spawn(self, command: list[str], env: dict[str, str], banner: str = "") -> float:
        """Start ``command`` in its own process group (so stop() ends all it starts), its
        output appended to the log; returns when it began."""
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            if banner:
                log.write(banner.encode())
                log.flush()
            self.process = subprocess.Popen(  # noqa: S603
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return began

    def _wait_ready(self, began: float, ready: Callable[[], str | None], interval: float) -> None:
        """Poll ``ready()`` (None once ready, else what it saw) until the startup timeout;
        a process that exits first, or the timeout, stops it and raises RuntimeError."""
        deadline = began + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"{self.failure_log()}"
                )
            seen = ready()
            if seen is None:
                self.start_seconds = time.monotonic() - began
                return
            last = seen
            time.sleep(interval)
        self.stop()
        said = f" ({last})" if last else ""
        raise RuntimeError(
            f"{self.name} not ready after {self.startup_timeout:.0f} s{said}; {self.failure_log()}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the process and everything it started (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)

    def kill(self, process: subprocess.Popen[bytes] | None = None) -> None:
        """SIGKILL to the process group: it dies mid-work, as on an OOM kill or a lost node."""
        process = process or self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_or_fail(server: SubprocessServer) -> SubprocessServer:
    """Start a session fixture's server; one that does not come up fails the tests, with its
    log, rather than skipping them."""
    import pytest

    try:
        return server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output free of access logs."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def body(self) -> bytes:
        """The request body (empty without a Content-Length)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class MethodHandler(QuietHandler):
    """HTTP/1.1; GET and POST both go to ``dispatch(method)``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def dispatch(self, method: str) -> None:
        raise NotImplementedError

    def send_json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(server: ThreadingHTTPServer, name: str) -> ThreadingHTTPServer:
    """Serve ``server`` from a daemon thread until :func:`shut`."""
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return server


def shut(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


class Closing:
    """``with double:`` closes it at the end (doubles that serve from their constructor)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServedDouble(Closing):
    """A double served from its constructor (:meth:`serve_with`); its handler finds it as
    ``self.server.double``."""

    _server: ThreadingHTTPServer

    def serve_with(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.double = self  # type: ignore[attr-defined]
        serve(self._server, type(self).__name__)

    def close(self) -> None:
        shut(self._server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class HTTPDouble:
    """A double served by one ``ThreadingHTTPServer`` made in ``__init__`` as ``_server``."""

    _server: ThreadingHTTPServer

    def start(self):
        serve(self._server, type(self).__name__)
        return self

    def stop(self) -> None:
        shut(self._server)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
