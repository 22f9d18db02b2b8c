"""A real LiteLLM proxy for tests: ``scripts/litellm-proxy/run.sh`` as a subprocess.

Install it once with ``scripts/litellm-proxy/install.sh``. The session fixture ``litellm_proxy``
starts one proxy on a free port with a fresh PostgreSQL database (dropped afterwards) and
fails, rather than skips, when the proxy is not installed or does not come up.

Environment: ``LITELLM_TEST_DATABASE_URL`` (use this database instead of a fresh one, kept),
``LITELLM_TEST_STARTUP_TIMEOUT`` (seconds, default 180).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_SH = REPO_ROOT / "scripts" / "litellm-proxy" / "run.sh"
INSTALL_SH = REPO_ROOT / "scripts" / "litellm-proxy" / "install.sh"
LITELLM_VENV = REPO_ROOT / ".litellm-venv"
DEFAULT_MASTER_KEY = "sk-test-master"
DEFAULT_ADMIN_DB_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_installed() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").exists() and (
        LITELLM_VENV / "prisma-engines" / "query-engine"
    ).exists()


class LiteLLMProxy:
    """One LiteLLM proxy process. ``stop()`` and ``start()`` again keep the port and database."""

    def __init__(
        self,
        *,
        port: int | None = None,
        master_key: str = DEFAULT_MASTER_KEY,
        database_url: str = "postgresql://postgres@127.0.0.1:5432/litellm_test",
        log_dir: Path | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        self.port = port or free_port()
        self.master_key = master_key
        self.database_url = database_url
        self.startup_timeout = startup_timeout
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="litellm-proxy-"))
        self.log_path = self.log_dir / "litellm-proxy.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start() took

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<LiteLLMProxy {self.base_url} log={self.log_path}>"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> LiteLLMProxy:
        """Start the proxy (if not running) and wait until ``/health/readiness`` says healthy."""
        if self.running:
            return self
        if not is_installed():
            script = INSTALL_SH.relative_to(REPO_ROOT)
            raise RuntimeError(f"LiteLLM is not installed in {LITELLM_VENV}: run {script}")
        env = {
            **os.environ,
            "LITELLM_PORT": str(self.port),
            "LITELLM_HOST": "127.0.0.1",
            "LITELLM_MASTER_KEY": self.master_key,
            "LITELLM_DATABASE_URL": self.database_url,
        }
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')} port {self.port} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603
                ["bash", str(RUN_SH)],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends the query engine too
            )
        self._wait_ready(began)
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"LiteLLM proxy exited with {self.process.returncode} while starting; "
                    f"log {self.log_path}:\n{self.output()[-4000:]}"
                )
            try:
                response = httpx.get(f"{self.base_url}/health/readiness", timeout=5)
                if response.status_code == 200 and response.json().get("db") == "connected":
                    return
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"LiteLLM proxy not ready after {self.startup_timeout:.0f} s ({last}); "
            f"log {self.log_path}:\n{self.output()[-4000:]}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the proxy and everything it started (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # The port must be free again before a restart on it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    break
            time.sleep(0.2)

    def restart(self) -> LiteLLMProxy:
        self.stop()
        return self.start()

    def output(self) -> str:
        """The proxy's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def _admin_url(database_url: str) -> str:
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def _drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory):
    """A running LiteLLM proxy (master key ``sk-test-master``) for the whole test session."""
    if not is_installed():
        pytest.fail(
            f"LiteLLM proxy is not installed ({LITELLM_VENV} missing or incomplete): "
            f"run `bash {INSTALL_SH.relative_to(REPO_ROOT)}` first",
            pytrace=False,
        )
    database_url = os.environ.get("LITELLM_TEST_DATABASE_URL")
    fresh = not database_url
    if fresh:
        base = urlsplit(DEFAULT_ADMIN_DB_URL)
        database_url = urlunsplit(base._replace(path=f"/litellm_test_{uuid.uuid4().hex[:10]}"))
    proxy = LiteLLMProxy(
        database_url=database_url,
        log_dir=tmp_path_factory.mktemp("litellm-proxy"),
        startup_timeout=float(os.environ.get("LITELLM_TEST_STARTUP_TIMEOUT", "180")),
    )
    try:
        proxy.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield proxy
    proxy.stop()
    if fresh:
        with contextlib.suppress(Exception):
            _drop_database(database_url)
