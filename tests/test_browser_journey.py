"""In a real browser: a developer requests a key, the lead approves, the owner reveals it once."""

import re

import pytest

from approvals.lifecycle import Status
from keys.models import VirtualKey

from .browser import request_key, signed_in_page
from .integration import chat, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.litellm, pytest.mark.django_db(transaction=True)]


def test_request_approve_reveal_once_in_the_browser(browser, live_server, org, litellm, worker):
    dev = signed_in_page(browser, live_server, org["dev_a"])
    request_key(dev, live_server.url, "notebook-agent", "5", "Agent experiments in notebooks.")
    assert "waiting for approval" in dev.content()
    key = VirtualKey.objects.get(name="notebook-agent")

    lead = signed_in_page(browser, live_server, org["lead_a"])
    lead.goto(f"{live_server.url}/")
    assert lead.inner_text("#pending-count") == "1"
    lead.click("a[href='/approvals/']")
    lead.click(f"a[href='/approvals/keys/{key.pk}/']")
    lead.click("#decision-form #approve")
    lead.wait_for_url(re.compile(r"/approvals/$"))

    wait_for_status(key.pk, Status.ACTIVE, worker=worker)
    # The developer's open page polls with htmx and offers the reveal button when the key is ready.
    dev.wait_for_selector("#reveal", timeout=30_000)
    dev.click("#reveal")
    secret = dev.inner_text("#secret").strip()
    assert secret.startswith("sk-")
    assert chat(litellm.base_url, secret).status_code == 200

    dev.goto(f"{live_server.url}/keys/{key.pk}/")
    assert dev.locator("#reveal").count() == 0
    assert dev.locator("#revealed").count() == 1
    assert secret not in dev.content()
