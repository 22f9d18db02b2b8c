"""`make demo`'s Langfuse: the real Langfuse 4.16 of the test suite, when it is installed.

`scripts/langfuse-server/install.sh` (run by `make test-langfuse` or `make langfuse-server`)
builds it outside the clone; the demo never installs it (about half an hour). When it is there
and Redis answers, the demo runs it on the demo's PostgreSQL with Langfuse's EE *test* licence
(what Langfuse's own CI uses, for development and testing), makes one organisation and its
organisation key through the instance admin API, and gives the key to the portal: tuning
projects are then made in Langfuse, not handed to infra's manual queue. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from demo_services import ROOT, Child, port_free, redis_answers

SCRIPTS = ROOT / "scripts" / "langfuse-server"
TARBALL = ROOT.parent / "shared" / "vendor" / "langfuse-4.16.0.tar.gz"
STEPS = ("deps", "prisma", "build-shared", "build-worker", "build-web", "pyenv")
ADMIN_API_KEY = "admin-api-key-for-the-demo"  # local only: the server listens on 127.0.0.1
EE_TEST_LICENCE = "langfuse_ee_test"
SETTINGS = ("LANGFUSE_HOST", "LANGFUSE_ORG_PUBLIC_KEY", "LANGFUSE_ORG_SECRET_KEY")


def cache_dir() -> Path | None:
    """Where install.sh built Langfuse (the same rule as run.sh), or None."""
    if os.environ.get("LANGFUSE_CACHE_DIR"):
        return Path(os.environ["LANGFUSE_CACHE_DIR"])
    if TARBALL.is_file():
        digest = hashlib.sha256(TARBALL.read_bytes()).hexdigest()[:16]
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "genai-portal" / f"langfuse-{digest}"
    recorded = ROOT / ".langfuse-cache-dir"
    return Path(recorded.read_text().strip()) if recorded.is_file() else None


def missing() -> str:
    """Why Langfuse cannot run in the demo, or "" when it is installed."""
    cache = cache_dir()
    if cache is None:
        return "not installed (no vendored source beside the clone)"
    absent = [step for step in STEPS if not (cache / "stamps" / step).exists()]
    if absent:
        return "not installed (run `make langfuse-server` once, about half an hour)"
    if shutil.which("curl") is None:
        return "curl is missing (its start script uses it)"
    return ""


def prepare(port: str, pg, redis_url: str, var: Path) -> tuple[DemoLangfuse | None, str]:
    """The demo's Langfuse, or why it is left out."""
    if port.lower() == "none":
        return None, "left out (DEMO_LANGFUSE_PORT=none)"
    if why := missing():
        return None, why
    if pg is None:
        return None, "it needs PostgreSQL, which did not start"
    if redis_url.lower() in ("", "none") or not redis_answers(redis_url):
        return None, "it needs Redis, which does not answer"
    langfuse = DemoLangfuse(port=int(port), var=var, logs=var / "logs", redis_url=redis_url)
    if not all(port_free(p) for p in langfuse.ports()):
        return None, f"a port it needs is in use ({langfuse.ports()}; move with DEMO_LANGFUSE_PORT)"
    return langfuse, ""


class DemoLangfuse:
    def __init__(self, *, port: int, var: Path, logs: Path, redis_url: str) -> None:
        self.port, self.var, self.logs, self.redis_url = port, var, logs, redis_url
        self.url = f"http://127.0.0.1:{port}"
        self.child: Child | None = None

    def child_for(self, env: dict, database_url: str, psql_dir: Path | None) -> Child:
        """run.sh as a supervised child (web, worker, ClickHouse front, S3 under one group)."""
        path = f"{psql_dir}:{env.get('PATH', '')}" if psql_dir else env.get("PATH", "")
        run_env = {
            **{k: v for k, v in env.items() if not k.startswith(("LANGFUSE_", "REDIS_"))},
            "PATH": path,  # migrate_postgres.sh needs psql: the wheel's, if none is installed
            "LANGFUSE_PORT": str(self.port),
            "LANGFUSE_WORKER_PORT": str(self.port + 30),
            "LANGFUSE_CLICKHOUSE_PORT": str(self.port + 24),
            "LANGFUSE_S3_PORT": str(self.port + 90),
            "LANGFUSE_RUN_DIR": str(self.var / "langfuse"),
            "LANGFUSE_DATABASE_URL": database_url.replace("postgres://", "postgresql://"),
            "LANGFUSE_REDIS_URL": self.redis_url,
            "LANGFUSE_REDIS_KEY_PREFIX": "langfuse-demo",
            "ADMIN_API_KEY": ADMIN_API_KEY,
            "LANGFUSE_EE_LICENSE_KEY": EE_TEST_LICENCE,
        }
        self.child = Child(
            "langfuse",
            ["bash", str(SCRIPTS / "run.sh")],
            env=run_env,
            log=self.logs / "langfuse.log",
        )
        return self.child

    def ports(self) -> list[int]:
        return [self.port, self.port + 30, self.port + 24, self.port + 90]

    def wait_ready(self, timeout: float = 300) -> str:
        """ "" when web and worker answer, else why not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child is None or not self.child.running:
                return f"it exited while starting: {self.child.tail(3) if self.child else ''}"
            if "langfuse ready" in self.child.tail(400):
                return ""
            time.sleep(1)
        return f"it did not answer within {timeout:.0f} s"

    def connect(self) -> tuple[dict, str]:
        """The portal's Langfuse settings once it answers, or why it cannot have them."""
        why = self.wait_ready()
        if why:
            return {}, why
        try:
            key = self.org_key()
        except (OSError, ValueError, KeyError) as exc:
            return {}, admin_error(exc)
        return dict(
            zip(SETTINGS, (self.url, key["public_key"], key["secret_key"]), strict=True)
        ), ""

    def org_key(self) -> dict:
        """The demo organisation's key pair: made once through the admin API, kept in var/."""
        saved = self.var / "langfuse-org.json"
        if saved.exists():
            return json.loads(saved.read_text())
        org = self._admin("/api/admin/organizations", {"name": "GenAI Portal demo"})
        pair = self._admin(
            f"/api/admin/organizations/{org['id']}/apiKeys", {"note": "GenAI Portal demo"}
        )
        key = {"public_key": pair["publicKey"], "secret_key": pair["secretKey"]}
        saved.write_text(json.dumps(key))
        saved.chmod(0o600)
        return key

    def _admin(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310 (our own local server)
            self.url + path,
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {ADMIN_API_KEY}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.load(response)


def admin_error(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"its admin API answered {exc.code}: {exc.read().decode(errors='replace')[:200]}"
    return str(exc)[:200]
