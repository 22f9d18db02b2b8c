"""In a real browser: a key over the department's threshold goes lead → infra. The lead decides
on the decision page (which shows the stages); infra decides from the bulk inbox; the request
page then shows both stages approved. Pages fit a 390 px wide phone."""

import re
from decimal import Decimal

import pytest

from approvals.lifecycle import Status
from keys.models import VirtualKey

from .approvals_helpers import INFRA_OVER_50, LEADS, make_policy
from .browser import request_key, signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def on_a_phone(browser, live_server, user, path: str):
    """``user`` signed in on a 390 px wide phone, at ``path``."""
    page = signed_in_page(browser, live_server, user)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}{path}")
    return page


def press_back_to_queue(page, selector: str) -> str:
    """Press ``selector``: the queue comes back. Its page's HTML."""
    page.click(selector)
    page.wait_for_url(re.compile(r"/approvals/$"))
    return page.content()


def test_two_stage_approval_in_the_browser(browser, live_server, org, tmp_path):
    make_policy(org["a"], LEADS, INFRA_OVER_50)
    dev = signed_in_page(browser, live_server, org["dev_a"])
    request_key(dev, live_server.url, "premium-agent", "80", "Evaluations at scale.")
    key = VirtualKey.objects.get(name="premium-agent")
    assert key.max_budget == Decimal("80")
    assert dev.locator("#approval-stages li[aria-current=step]").inner_text().startswith("Lead")

    lead = on_a_phone(browser, live_server, org["lead_a"], f"/approvals/keys/{key.pk}/")
    assert lead.locator("#approval-stages").is_visible()
    assert fits_phone(lead)
    lead.screenshot(path=str(tmp_path / "decide-390.png"), full_page=True)
    assert "moves on when its stage is" in press_back_to_queue(lead, "#approve")
    key.refresh_from_db()
    assert key.status == Status.SUBMITTED

    infra = on_a_phone(browser, live_server, org["infra"], "/approvals/inbox/")  # old address
    infra.wait_for_url(re.compile(r"/approvals/$"))
    assert fits_phone(infra)
    infra.check(f"input[name=items][value^='keys.virtualkey:{key.pk}:']")  # and its stage
    infra.select_option("#id_decision", "approve")
    infra.screenshot(path=str(tmp_path / "inbox-390.png"), full_page=True)
    assert "1 request(s) decided." in press_back_to_queue(infra, "#bulk-form button[type=submit]")
    key.refresh_from_db()
    assert key.status == Status.APPROVED

    dev.goto(f"{live_server.url}/keys/{key.pk}/")
    states = dev.locator("#approval-stages li").all_inner_texts()
    assert len(states) == 2 and all("approved" in s for s in states)
