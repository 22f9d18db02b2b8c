"""The README's Production section, run as an operator would, on the image's file tree.

scripts/build-image-tree.sh builds what the Dockerfile builds (a fresh virtualenv with
``pip install .``, not editable; static files collected with DEBUG=0). From that tree, with
DEBUG=0 and the secrets production requires: ``migrate``, ``collectstatic``, ``check --deploy``,
then gunicorn, a Celery worker and beat on Redis, against the real LiteLLM proxy. A developer
asks for a key, the lead approves it, the worker makes it live in LiteLLM. Everything started
here is stopped here (process groups), and the test checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql

from .litellm_proxy import free_port
from .servers import REPO_ROOT as ROOT

pytestmark = [pytest.mark.production, pytest.mark.litellm]

ADMIN_DB = "postgresql://postgres@127.0.0.1:5432/postgres"
SEED = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from tenants.models import Department, Membership, User

dept = Department.objects.create(
    name="Smoke", slug="smoke", cost_centre="CC-1", allowed_models=["gpt-4o-mini"]
)
out = {}
for name, role in (("lead", "lead"), ("dev", "member")):
    user = User.objects.create(
        username=f"{name}@smoke.example", email=f"{name}@smoke.example", entra_oid=f"oid-{name}"
    )
    Membership.objects.create(user=user, department=dept, role=role)
    # What sign-in (Entra ID, which cannot run here) leaves in the session store.
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "allauth.account.auth_backends.AuthenticationBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    out[name] = store.session_key
print(json.dumps(out))
"""


class Stack:
    """The processes of one deployment, each in its own process group."""

    def __init__(self, app: Path, env: dict[str, str], logs: Path) -> None:
        self.app, self.env, self.logs = app, env, logs
        self.procs: dict[str, subprocess.Popen] = {}

    def run(self, *args: str, **env: str) -> str:
        result = subprocess.run(  # noqa: S603
            [*args], cwd=self.app, env={**self.env, **env}, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def start(self, name: str, *args: str, **env: str) -> None:
        self.procs[name] = subprocess.Popen(  # noqa: S603
            [*args], cwd=self.app, env={**self.env, **env}, stdin=subprocess.DEVNULL,
            stdout=(self.logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_log(self, name: str, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            assert self.procs[name].poll() is None, f"{name} exited:\n{self.log(name)[-3000:]}"
            time.sleep(0.3)
        raise AssertionError(f"{name}: no {text!r} in {timeout} s:\n{self.log(name)[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def leftovers(self) -> list[int]:
        """Process groups that still have a member (a child that outlived its parent)."""
        alive = []
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, 0)
                alive.append(proc.pid)
            except ProcessLookupError:
                pass
        return alive


def cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {response.headers}")


class Browser:
    """Plain HTTP as it arrives from the TLS proxy (X-Forwarded-Proto: https)."""

    def __init__(self, base: str, session: str) -> None:
        self.base = base
        self.cookies = {"sessionid": session}
        host = base.split("//", 1)[1]
        self.client = httpx.Client(
            base_url=base,
            headers={"X-Forwarded-Proto": "https", "Origin": f"https://{host}"},
            timeout=30,
        )

    def _headers(self, extra: dict | None = None) -> dict:
        jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": jar, **(extra or {})}

    def get(self, path: str) -> httpx.Response:
        response = self.client.get(path, headers=self._headers())
        with contextlib.suppress(AssertionError):
            self.cookies["csrftoken"] = cookie(response, "csrftoken")
        return response

    def post_form(self, path: str, data: dict, headers: dict | None = None) -> httpx.Response:
        page = self.get(path)
        assert page.status_code == 200, page.text[:2000]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return self.client.post(
            path, data={**data, "csrfmiddlewaretoken": token}, headers=self._headers(headers)
        )


@pytest.fixture
def smoke_db():
    name = f"portal_smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DB, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_DB, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_production_path(tmp_path, smoke_db, litellm_proxy):
    # PORTAL_IMAGE_TREE: a tree built before (development only; CI always builds afresh).
    tree = Path(os.environ.get("PORTAL_IMAGE_TREE") or tmp_path / "image")
    if not os.environ.get("PORTAL_IMAGE_TREE"):
        build = subprocess.run(  # noqa: S603
            ["bash", str(ROOT / "scripts" / "build-image-tree.sh"), str(tree)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert build.returncode == 0, build.stdout + build.stderr
    app, venv = tree / "app", tree / "venv"
    assert not (app / "tests").exists()  # .dockerignore applies
    # Not editable: the venv holds a copy of the code, not a link back to this checkout.
    site = subprocess.run(  # noqa: S603
        [str(venv / "bin" / "python"), "-c", "import portal, sys; print(portal.__file__)"],
        cwd="/", capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(venv) in site and str(ROOT) not in site

    metrics_token = secrets.token_urlsafe(24)
    queue = f"portal-smoke-{uuid.uuid4().hex[:8]}"
    for d in ("web-metrics", "worker-metrics"):
        (tmp_path / d).mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECRETS_FERNET_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": smoke_db,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        "CELERY_QUEUE": queue,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LITELLM_BASE_URL": litellm_proxy.base_url,
        "LITELLM_MASTER_KEY": litellm_proxy.master_key,
        "METRICS_TOKEN": metrics_token,
    }
    stack = Stack(app, env, tmp_path)
    try:
        # The README's commands, in order.
        stack.run("python", "manage.py", "migrate", "--noinput")
        stack.run("python", "manage.py", "collectstatic", "--noinput")
        deploy = stack.run("python", "manage.py", "check", "--deploy", "--fail-level", "WARNING")
        assert "no issues" in deploy, deploy
        port, worker_port = free_port(), free_port()
        stack.start(
            "web", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "web-metrics"),
        )  # fmt: skip
        stack.start(
            "worker", "celery", "-A", "portal", "worker", "--concurrency", "4",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "worker-metrics"),
            WORKER_METRICS_PORT=str(worker_port),
        )  # fmt: skip
        stack.start("beat", "celery", "-A", "portal", "beat")
        stack.wait_log("worker", "ready.")
        stack.wait_log("beat", "beat: Starting")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            time.sleep(0.3)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": {"status": "ok"}, "broker": {"status": "ok"}}

        seeded = stack.run("python", "manage.py", "shell", "-c", SEED).strip().splitlines()
        sessions = json.loads(seeded[-1])
        dev, lead = Browser(base, sessions["dev"]), Browser(base, sessions["lead"])

        # A signed-in page, with its CSS and JS under hashed names, cached for good.
        home = dev.get("/")
        assert home.status_code == 200, home.text[:2000]
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.[0-9a-f]{12}\.(?:css|js))"', home.text)
        assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
        for asset in assets:
            served = dev.client.get(asset, headers={"Accept-Encoding": "gzip"})
            assert served.status_code == 200, asset
            assert "max-age=315360000" in served.headers["cache-control"], served.headers
            assert "immutable" in served.headers["cache-control"]

        # A key request approved through the workers goes live in LiteLLM.
        request_id = uuid.uuid4().hex
        db = smoke_db.replace("postgres://", "postgresql://", 1)
        with psycopg.connect(db) as conn:
            (dept_id,) = conn.execute("SELECT id FROM tenants_department").fetchone()
        asked = dev.post_form(
            "/keys/request/",
            {
                "department": str(dept_id),
                "name": "smoke-key",
                "kind": "personal",
                "llm_models": "gpt-4o-mini",
                "max_budget": "5",
                "budget_duration": "30d",
                "rpm_limit": "10",
                "tpm_limit": "1000",
                "lifetime_days": "7",
                "justification": "Production smoke test.",
            },
        )
        assert asked.status_code == 302, asked.text[:3000]
        with psycopg.connect(db) as conn:
            (key_id,) = conn.execute(
                "SELECT id FROM keys_virtualkey WHERE name = 'smoke-key'"
            ).fetchone()
        alias = f"portal-{key_id}-smoke-key"
        approved = lead.post_form(
            f"/approvals/keys/{key_id}/", {"decision": "approve"}, {"X-Request-ID": request_id}
        )
        assert approved.status_code == 302, approved.text[:3000]
        assert approved.headers["X-Request-ID"] == request_id
        status, deadline = "", time.monotonic() + 90
        while status != "active" and time.monotonic() < deadline:
            time.sleep(0.5)
            with psycopg.connect(db) as conn:
                (status,) = conn.execute(
                    "SELECT status FROM keys_virtualkey WHERE id = %s", [key_id]
                ).fetchone()
        assert status == "active", stack.log("worker")[-4000:]
        listed = httpx.get(
            f"{litellm_proxy.base_url}/key/list",
            params={"key_alias": alias, "return_full_object": "true"},
            headers={"Authorization": f"Bearer {litellm_proxy.master_key}"},
        ).json()["keys"]
        assert [k["key_alias"] for k in listed] == [alias]

        # The worker's log lines are JSON and carry the request id of the approval.
        lines = [json.loads(x) for x in stack.log("worker").splitlines() if x.startswith("{")]
        provisioned = [x for x in lines if x.get("message") == "key provisioned"]
        assert provisioned and provisioned[0]["request_id"] == request_id, provisioned

        # Metrics: refused without the token; with it, the named series.
        assert httpx.get(f"{base}/metrics").status_code == 401
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
        assert scraped.status_code == 200
        assert (
            'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="home"}'
            in (scraped.text)
        )
        assert 'portal_requests{kind="virtualkey",status="active"} 1.0' in scraped.text
        assert f'portal_celery_queue_length{{queue="{queue}"}}' in scraped.text
        worker_metrics = httpx.get(f"http://127.0.0.1:{worker_port}/metrics").text
        assert 'portal_provisioning_total{kind="virtualkey",outcome="active"} 1.0' in worker_metrics
        assert "portal_provisioning_duration_seconds_bucket" in worker_metrics
    finally:
        stack.stop()
    assert stack.leftovers() == []
    # Gunicorn, the worker and beat shut down cleanly on SIGTERM.
    assert "Shutting down: Master" in stack.log("web")
