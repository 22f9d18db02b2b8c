"""`make demo` with the real Langfuse built (`make langfuse-server`): a tuning project requested
in the demo is made in Langfuse, and its key pair, revealed once, works against that Langfuse.

Runs with the real-Langfuse tests (`make test-langfuse`), where the build is there for sure.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from .browser import request_project
from .litellm_proxy import free_port
from .servers import nothing_listens
from .test_demo_journey import DemoStack

pytestmark = [pytest.mark.langfuse_real, pytest.mark.browser, pytest.mark.litellm]


def langfuse_ports() -> int:
    """A port whose neighbours the demo's Langfuse also takes (+24, +30, +90) are free too."""
    while True:
        port = free_port()
        if port + 90 < 65536 and all(nothing_listens(port + n) for n in (24, 30, 90)):
            return port


@pytest.fixture(scope="module")
def demo_with_langfuse():
    var = Path(tempfile.mkdtemp(prefix="portal-demo-langfuse-"))
    stack = DemoStack(var, langfuse_port=str(langfuse_ports()))
    stack.wait_ready(timeout=900)
    yield stack
    assert stack.stop() == 0
    shutil.rmtree(var, ignore_errors=True)


def sign_in(browser, demo, email: str):
    page = browser.new_context(locale="en-GB", base_url=demo.url).new_page()
    page.goto("/")
    page.click("text=Choose a demo user")
    page.click(f"button[data-demo-user='{email}']")
    page.wait_for_url(f"{demo.url}/")
    return page


def test_a_tuning_project_is_made_in_the_demos_langfuse(browser, demo_with_langfuse):
    demo = demo_with_langfuse
    output = "".join(demo.output)
    assert "Langfuse ready at" in output, output[-3000:]

    dev = sign_in(browser, demo, "tanaka.kenji@demo.example")
    card = dev.locator("#demo-langfuse")
    assert card.get_attribute("data-ok") == "1", dev.inner_text("#demo-status")
    langfuse_url = dev.inner_text("#demo-langfuse code")
    request_project(dev, demo.url, "demo-tuning")
    project_path = dev.url.removeprefix(demo.url)

    lead = sign_in(browser, demo, "sato.haruka@demo.example")
    lead.goto("/approvals/")
    pk = project_path.strip("/").split("/")[-1]
    lead.click(f"#approval-queue a.button[href='/approvals/projects/{pk}/']")
    lead.click("#decision-form #approve")
    lead.wait_for_url(re.compile(r"/approvals/$"))

    dev.goto(project_path)
    dev.wait_for_selector("#reveal", timeout=180_000)  # the worker makes it in Langfuse
    dev.click("#reveal")
    dev.wait_for_selector("#sdk-env")
    secret = dev.inner_text("#secret").strip()
    env = dev.inner_text("#sdk-env")
    public = re.search(r"LANGFUSE_PUBLIC_KEY=(\S+)", env).group(1)
    assert f"LANGFUSE_HOST={langfuse_url}" in env

    # The pair is a project key of the real Langfuse: it reads its own project, by that name.
    response = httpx.get(f"{langfuse_url}/api/public/projects", auth=(public, secret), timeout=30)
    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json()["data"]] == [f"tuning-{pk}-demo-tuning"]
