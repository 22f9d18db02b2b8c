"""`make demo`'s stack (scripts/demo.py, as `make demo` runs it) walked in a real browser.

A developer signs in on the demo sign-in page, requests a key within the auto-approval policy,
watches it go live, reveals it once, runs the page's curl and OpenAI-SDK snippets as they are
against the demo's LiteLLM proxy, and finds the call's spend on their cost page; the lead finds
it on the department page, against the budget. A seeded key is rotated (it exists in LiteLLM
too). Ctrl-C (SIGINT) stops the whole stack.

The stack gets its own ports and data directory, so it runs beside a demo and other tests.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from .browser import request_key
from .litellm_proxy import LITELLM_VENV, free_port
from .servers import nothing_listens

pytestmark = [pytest.mark.browser, pytest.mark.litellm]

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"Demo ready in \S+: (http://\S+)/")


class DemoStack:
    def __init__(self, var: Path, langfuse_port: str = "none") -> None:
        self.var = var
        self.ports = {
            "DEMO_PORT": free_port(),
            "DEMO_LITELLM_PORT": free_port(),
            "DEMO_POSTGRES_PORT": free_port(),
            "DEMO_CI_ISSUER_PORT": free_port(),
        }
        self.output: list[str] = []
        self.url = ""
        self.proxy_url = f"http://127.0.0.1:{self.ports['DEMO_LITELLM_PORT']}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update({k: str(v) for k, v in self.ports.items()})
        # Langfuse only where it is the subject (tests/test_demo_langfuse.py), so this journey
        # is the same whether or not this machine has built it.
        env["DEMO_LANGFUSE_PORT"] = langfuse_port
        env.update(DEMO_VAR_DIR=str(var), DEMO_REDIS_URL=settings.REDIS_URL)
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "scripts/demo.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.output.append(line)
            if match := READY.search(line):
                self.url = match.group(1)
                return
            if time.monotonic() > deadline:
                break
        self.stop()
        pytest.fail("the demo did not come up:\n" + "".join(self.output[-40:]), pytrace=False)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
        rest, _ = self.proc.communicate(timeout=120)
        self.output.append(rest)
        return self.proc.returncode

    def master_key(self) -> str:
        return (self.var / "litellm-master-key").read_text().strip()


@pytest.fixture(scope="module")
def demo():
    # Not under pytest's own temporary folder: under root, PostgreSQL runs as another user,
    # and the folders above its data directory are opened up for it.
    var = Path(tempfile.mkdtemp(prefix="portal-demo-test-"))
    stack = DemoStack(var)
    stack.wait_ready(timeout=float(os.environ.get("DEMO_TEST_STARTUP_TIMEOUT", "900")))
    yield stack
    stack.stop()
    shutil.rmtree(var, ignore_errors=True)


@pytest.fixture
def new_page(browser, demo):
    contexts = []

    def make(email: str):
        context = browser.new_context(locale="en-GB", base_url=demo.url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        page.click("text=Choose a demo user")
        assert page.locator("#demo-litellm[data-ok='1']").count() == 1
        page.click(f"button[data-demo-user='{email}']")
        page.wait_for_url(f"{demo.url}/")
        return page

    yield make
    for context in contexts:
        context.close()


def csv_rows(page, path: str) -> list[dict]:
    response = page.request.get(path)
    assert response.ok, response.status
    return list(csv.DictReader(io.StringIO(response.text().lstrip("\ufeff"))))


def wait_for_row(page, path: str, name: str, timeout: float = 120) -> dict:
    """Reload until the CSV behind a cost table has a row for key ``name`` (ingestion runs every
    DEMO_INGEST_SECONDS, 30 by default)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in csv_rows(page, path):
            if name in row.values():
                return row
        time.sleep(3)
    raise AssertionError(f"no spend for {name} at {path} after {timeout:.0f} s")


def spend_of(row: dict) -> float:
    return float(row["spend"])


def test_demo_journey_from_sign_in_to_spend(demo, new_page):
    dev = new_page("tanaka.kenji@demo.example")
    assert "LiteLLM proxy" in dev.inner_text("#demo-status")
    request_key(dev, "", "first-agent", "5", "Trying the portal.")  # the page's base URL
    assert "Approved automatically" in dev.inner_text(".messages")
    assert dev.locator("#key-status").count() == 1  # the progress the page polls
    dev.wait_for_selector("#reveal", timeout=60_000)
    assert dev.get_attribute("[data-status]", "data-status") == "active"
    dev.click("#reveal")

    curl = dev.inner_text("#snippet-curl")
    assert curl.startswith(f"curl {demo.proxy_url}/v1/chat/completions")
    answer = subprocess.run(  # noqa: S603
        ["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=True
    )  # noqa: S607
    assert "Hello from the mock" in answer.stdout
    python = dev.inner_text("#snippet-python")
    answer = subprocess.run(  # noqa: S603
        [str(LITELLM_VENV / "bin" / "python"), "-c", python],  # the openai package is there
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert answer.stdout.strip() == "Hello from the mock"

    month = time.strftime("%Y-%m", time.gmtime())
    row = wait_for_row(dev, f"/costs/me/keys.csv?month={month}", "first-agent")
    assert spend_of(row) > 0
    dev.goto("/costs/me/")
    assert "first-agent" in dev.inner_text("#table-keys")

    lead = new_page("sato.haruka@demo.example")
    lead.goto("/costs/departments/research/")
    assert lead.inner_text("#kpi-budget") == "USD 400.00"
    assert "first-agent" in lead.inner_text("#table-keys")
    row = wait_for_row(lead, f"/costs/departments/research/keys.csv?month={month}", "first-agent")
    assert spend_of(row) > 0


def test_seeded_keys_live_in_litellm_and_rotate(demo, new_page):
    listed = httpx.get(
        f"{demo.proxy_url}/key/list",
        params={"team_id": "portal-research", "return_full_object": "true"},
        headers={"Authorization": f"Bearer {demo.master_key()}"},
        timeout=30,
    ).json()["keys"]
    assert any(k["key_alias"].endswith("-paper-summariser") for k in listed)

    dev = new_page("tanaka.kenji@demo.example")
    dev.goto("/keys/")
    dev.click("text=paper-summariser")
    dev.once("dialog", lambda dialog: dialog.accept())
    dev.click("#rotate")
    dev.wait_for_selector("#reveal", timeout=60_000)
    dev.click("#reveal")
    curl = dev.inner_text("#snippet-curl")
    answer = subprocess.run(  # noqa: S603
        ["bash", "-c", curl], capture_output=True, text=True, timeout=60, check=True
    )  # noqa: S607
    assert "Hello from the mock" in answer.stdout


def test_reconcile_finds_no_drift_on_the_seeded_keys(demo, new_page):
    infra = new_page("yamamoto.taro@demo.example")
    infra.goto("/operations/")
    infra.click("text=Reconcile now")
    deadline = time.monotonic() + 60

    def finished() -> bool:  # a run in progress shows a "running" badge until it is done
        return (
            "Last run" in infra.content()
            and infra.locator("#reconcile .status.provisioning").count() == 0
        )

    while not finished() and time.monotonic() < deadline:
        time.sleep(2)
        infra.reload()
    text = infra.inner_text("main")
    checked = re.search(r"Last run .+?: (\d+) teams, (\d+) keys checked", text)
    assert checked, text
    assert int(checked.group(1)) == 4 and int(checked.group(2)) >= 7
    assert infra.locator("span.status.failed").count() == 0  # no drift, no error


def test_the_demo_pipeline_trades_a_minted_token_for_a_key(demo):
    """The README's one-liner: a token from the demo's CI issuer, `genai-portal exchange`,
    then a call through the demo's proxy with the run's key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GENAI_"))}
    env["DEMO_VAR_DIR"] = str(demo.var)
    token = subprocess.run(
        [sys.executable, "scripts/demo_ci_token.py"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    env.update(GENAI_PORTAL_ID_TOKEN=token, GENAI_PORTAL_URL=demo.url)
    result = subprocess.run(
        [sys.executable, "-m", "api.cli.main", "exchange", "--export"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    key = re.search(r"^export OPENAI_API_KEY=(sk-\S+)$", result.stdout, re.M).group(1)
    answer = httpx.post(
        f"{demo.proxy_url}/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def test_ctrl_c_stops_everything(demo):
    pids = json.loads((demo.var / "pids.json").read_text())
    assert {"postgres", "litellm", "web"} <= set(pids)
    assert demo.stop() == 0
    assert "[demo] stopped" in "".join(demo.output)
    for pgid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    for port in demo.ports.values():
        assert nothing_listens(port), port
