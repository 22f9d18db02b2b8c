"""A real Langfuse (v4.16.0) for tests: ``scripts/langfuse-server/run.sh`` as a subprocess.

Install it once with ``scripts/langfuse-server/install.sh``. The session fixture
``langfuse_server`` starts one Langfuse (web, worker, ClickHouse front, S3) with the EE test
licence on a fresh PostgreSQL database and its own Redis key prefix, then creates an
organisation and an organisation-scoped API key through the real instance admin API
(``ADMIN_API_KEY``). ``langfuse_server_oss`` is a second web + worker on the same database
without the licence (plan ``oss``): the same organisation key then gets Langfuse's real 403s.
Both fail, rather than skip, when Langfuse is not installed or does not come up; their logs are
printed with the failure and kept under pytest's temporary directory.

Environment: ``LANGFUSE_TEST_STARTUP_TIMEOUT`` (seconds, default 600).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .servers import REPO_ROOT, SubprocessServer, database_url, drop_database, free_port
from .servers import start_or_fail as _start

SCRIPTS = REPO_ROOT / "scripts" / "langfuse-server"
RUN_SH = SCRIPTS / "run.sh"
INSTALL_SH = SCRIPTS / "install.sh"
ADMIN_API_KEY = "admin-api-key-for-tests"
EE_TEST_LICENCE = "langfuse_ee_test"  # what Langfuse's own CI uses (development and testing)


@dataclass
class OrgKey:
    org_id: str
    public_key: str
    secret_key: str


class LangfuseServer(SubprocessServer):
    """One Langfuse (web + worker + ClickHouse front + S3) started by run.sh."""

    name = "Langfuse"

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        licence: str | None,
        log_dir: Path | None = None,
        startup_timeout: float = 600.0,
    ) -> None:
        self.port = free_port()
        self.ports = {
            "LANGFUSE_PORT": self.port,
            "LANGFUSE_WORKER_PORT": free_port(),
            "LANGFUSE_CLICKHOUSE_PORT": free_port(),
            "LANGFUSE_S3_PORT": free_port(),
        }
        self.database_url = database_url
        self.redis_url = redis_url
        self.licence = licence
        self.admin_api_key = ADMIN_API_KEY
        self.run_dir = Path(log_dir or tempfile.mkdtemp(prefix="langfuse-run-"))
        super().__init__(self.run_dir / "run.log", startup_timeout)
        self.org: OrgKey | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<LangfuseServer {self.url} licence={self.licence!r} logs={self.run_dir}>"

    poll_interval = 1

    def command(self) -> list[str]:
        return ["bash", str(RUN_SH)]

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            **{name: str(port) for name, port in self.ports.items()},
            "LANGFUSE_RUN_DIR": str(self.run_dir),
            "LANGFUSE_DATABASE_URL": self.database_url,
            "LANGFUSE_REDIS_URL": self.redis_url,
            "LANGFUSE_REDIS_KEY_PREFIX": f"langfuse-test-{self.port}",
            "ADMIN_API_KEY": self.admin_api_key,
        }
        env.pop("LANGFUSE_EE_LICENSE_KEY", None)
        if self.licence:
            env["LANGFUSE_EE_LICENSE_KEY"] = self.licence
        return env

    def readiness(self) -> str | None:
        return None if "langfuse ready" in self.output() else ""

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)

    def failure_log(self) -> str:
        return self.logs()

    def logs(self, tail: int = 3000) -> str:
        """The end of every component's log, for a failure message."""
        parts = []
        for path in sorted(self.run_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path} ---\n{text[-tail:]}")
        return "\n".join(parts)

    # -- the instance admin API ------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {self.admin_api_key}"},
            timeout=60,
            **kwargs,
        )

    def create_org(self, name: str) -> OrgKey:
        """An organisation and an organisation-scoped key pair, through /api/admin."""
        response = self.admin("POST", "/api/admin/organizations", json={"name": name})
        assert response.status_code == 201, response.text
        org_id = response.json()["id"]
        response = self.admin(
            "POST", f"/api/admin/organizations/{org_id}/apiKeys", json={"note": "portal tests"}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return OrgKey(org_id, body["publicKey"], body["secretKey"])


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


@pytest.fixture(scope="session")
def langfuse_database():
    url = database_url(f"langfuse_test_{uuid.uuid4().hex[:10]}")
    yield url
    with contextlib.suppress(Exception):
        drop_database(url)


@pytest.fixture(scope="session")
def langfuse_server(tmp_path_factory, langfuse_database):
    """The real Langfuse with the EE test licence, and an organisation with its own key."""
    server = LangfuseServer(
        database_url=langfuse_database,
        redis_url=_redis_url(),
        licence=EE_TEST_LICENCE,
        log_dir=tmp_path_factory.mktemp("langfuse-ee"),
        startup_timeout=float(os.environ.get("LANGFUSE_TEST_STARTUP_TIMEOUT", "600")),
    )
    _start(server)
    try:
        server.org = server.create_org("portal-tests")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def langfuse_server_oss(tmp_path_factory, langfuse_server):
    """The same database and organisation, served without a licence (plan ``oss``)."""
    server = LangfuseServer(
        database_url=langfuse_server.database_url,
        redis_url=langfuse_server.redis_url,
        licence=None,
        log_dir=tmp_path_factory.mktemp("langfuse-oss"),
        startup_timeout=float(os.environ.get("LANGFUSE_TEST_STARTUP_TIMEOUT", "600")),
    )
    server.org = langfuse_server.org
    _start(server)
    yield server
    server.stop()
