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
import socket
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from .servers import (
    REPO_ROOT,
    SubprocessServer,
    database_url,
    drop_database,
    free_port,
    start_or_fail,
)

RUN_SH = REPO_ROOT / "scripts" / "litellm-proxy" / "run.sh"
INSTALL_SH = REPO_ROOT / "scripts" / "litellm-proxy" / "install.sh"
LITELLM_VENV = REPO_ROOT / ".litellm-venv"
DEFAULT_MASTER_KEY = "sk-test-master"

__all__ = ["LITELLM_VENV", "LiteLLMProxy", "free_port", "is_installed", "litellm_proxy"]


def is_installed() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").exists() and (
        LITELLM_VENV / "prisma-engines" / "query-engine"
    ).exists()


class LiteLLMProxy(SubprocessServer):
    """One LiteLLM proxy process. ``stop()`` and ``start()`` again keep the port and database."""

    name = "LiteLLM proxy"

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
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="litellm-proxy-"))
        super().__init__(self.log_dir / "litellm-proxy.log", startup_timeout)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<LiteLLMProxy {self.base_url} log={self.log_path}>"

    def start(self) -> LiteLLMProxy:
        """Start the proxy (if not running) and wait until ``/health/readiness`` says healthy."""
        if not self.running and not is_installed():
            script = INSTALL_SH.relative_to(REPO_ROOT)
            raise RuntimeError(f"LiteLLM is not installed in {LITELLM_VENV}: run {script}")
        return super().start()

    def command(self) -> list[str]:
        return ["bash", str(RUN_SH)]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LITELLM_PORT": str(self.port),
            "LITELLM_HOST": "127.0.0.1",
            "LITELLM_MASTER_KEY": self.master_key,
            "LITELLM_DATABASE_URL": self.database_url,
        }

    def banner(self) -> str:
        return f"\n=== start {time.strftime('%H:%M:%S')} port {self.port} ===\n"

    def readiness(self) -> str | None:
        try:
            response = httpx.get(f"{self.base_url}/health/readiness", timeout=5)
            if response.status_code == 200 and response.json().get("db") == "connected":
                return None
            return f"HTTP {response.status_code}: {response.text[:300]}"
        except (httpx.HTTPError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the proxy and its query engine; the port is free again for a restart."""
        super().stop(timeout)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    break
            time.sleep(0.2)

    def restart(self) -> LiteLLMProxy:
        self.stop()
        return self.start()


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory):
    """A running LiteLLM proxy (master key ``sk-test-master``) for the whole test session."""
    if not is_installed():
        pytest.fail(
            f"LiteLLM proxy is not installed ({LITELLM_VENV} missing or incomplete): "
            f"run `bash {INSTALL_SH.relative_to(REPO_ROOT)}` first",
            pytrace=False,
        )
    url = os.environ.get("LITELLM_TEST_DATABASE_URL", "")
    fresh = not url
    if fresh:
        url = database_url(f"litellm_test_{uuid.uuid4().hex[:10]}")
    proxy = LiteLLMProxy(
        database_url=url,
        log_dir=tmp_path_factory.mktemp("litellm-proxy"),
        startup_timeout=float(os.environ.get("LITELLM_TEST_STARTUP_TIMEOUT", "180")),
    )
    start_or_fail(proxy)
    yield proxy
    proxy.stop()
    if fresh:
        with contextlib.suppress(Exception):
            drop_database(url)
