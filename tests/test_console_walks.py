"""Each role's everyday tasks walked in a real browser, by clicking through the navigation as a
person would, in English and Japanese, on a laptop and on a 390 px phone. After each step the
page has a real title, fits the screen, and says what just happened; every step's screenshot
goes to test-results/screenshots/walk-*.png (the README's console section shows some)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from approvals.lifecycle import Status
from approvals.review_models import ReviewCampaign
from keys.models import VirtualKey

from .approvals_helpers import LEADS, make_policy
from .test_ux_browser import LAPTOP, PHONE, SHOTS, open_as
from .test_ux_browser import console as console  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Walk:
    """One person's tab at one width; ``step`` checks the page and takes its screenshot."""

    def __init__(self, page, base: str, role: str, lang: str, width: int):
        self.page, self.base, self.name = page, base, f"walk-{role}-{lang}-{width}"
        self.width = width
        page.set_viewport_size({"width": width, "height": 900})
        self.problems: list[str] = []

    def nav(self, path: str) -> None:
        """Follow the main navigation to ``path``, opening the phone menu where there is one."""
        toggle = self.page.locator("#menu-toggle")
        if toggle.is_visible():
            toggle.click()
        self.page.locator(f'nav.main a[href="{path}"]').first.click()
        self.page.wait_for_load_state()

    def step(self, label: str, *, says: str | None = None) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")
        title = page.title()
        if "·" not in title:
            self.problems.append(f"{label}: title without the site name: {title!r}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            self.problems.append(f"{label}: {overflow}px wider than the screen")
        if says is not None and not page.locator(says).first.is_visible():
            self.problems.append(f"{label}: {says} not shown")
        page.screenshot(path=str(SHOTS / f"{self.name}-{label}.png"), full_page=True)


def walk(browser, live_server, user, role, lang, width) -> Walk:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, user, lang)
    w = Walk(page, live_server.url, role, lang, width)
    page.goto(live_server.url + "/")
    w.step("1-home")
    return w


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_developer_asks_for_a_key_and_sees_where_it_stands(
    console, live_server, browser, lang, width
):
    w = walk(browser, live_server, console["dev_a"], "developer", lang, width)
    page = w.page
    w.nav("/keys/")
    w.step("2-my-keys")
    page.locator('a[href="/keys/request/"]').first.click()
    page.wait_for_load_state()
    w.step("3-request-form", says="#estimate-box")
    page.fill("#id_name", "walk-agent")
    page.check("input[name=llm_models][value='gpt-4o-mini']")
    page.fill("#id_max_budget", "40")  # over alpha's auto-approval (USD 10): a lead decides
    page.fill("#id_justification", "Agent evaluation for the support team.")
    page.click("#key-request-form button[type=submit]")
    page.wait_for_url(re.compile(r"/keys/\d+/$"))
    w.step("4-key-waiting", says=".messages")
    assert page.locator("[data-status=submitted]").is_visible()
    page.context.close()
    assert w.problems == []
    assert VirtualKey.objects.get(name="walk-agent").status == Status.SUBMITTED


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_lead_decides_with_the_reason_in_view_then_reads_the_budget(
    console, live_server, browser, lang, width
):
    make_policy(console["a"], LEADS)
    w = walk(browser, live_server, console["lead_a"], "lead", lang, width)
    page = w.page
    w.nav("/approvals/")
    w.step("2-queue")
    decide = page.locator(f'a[href="/approvals/keys/{console["pending"].pk}/"]').first
    box = decide.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width  # "Decide" on screen
    decide.click()
    page.wait_for_load_state()
    w.step("3-decide", says="#why-waits")
    page.fill("#id_comment", "Use the shared evaluation key instead.")
    page.click("#reject")
    page.wait_for_load_state()
    w.step("4-rejected", says=".messages")
    w.nav("/costs/")
    w.step("5-costs")
    w.nav("/reviews/")
    w.step("6-reviews")
    page.context.close()
    assert w.problems == []
    assert VirtualKey.objects.get(pk=console["pending"].pk).status == Status.REJECTED


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_infra_starts_a_review_and_finds_who_changed_a_policy(
    console, live_server, browser, lang, width
):
    make_policy(console["a"], LEADS, actor=console["infra"])
    w = walk(browser, live_server, console["infra"], "infra", lang, width)
    page = w.page
    w.nav("/operations/")
    w.step("2-operations", says="#failed")
    w.nav("/reviews/")
    page.fill("#id_name", "Walk review")
    page.check(f"input[name=departments][value='{console['a'].pk}']")
    page.fill("#id_deadline", "2031-01-31T18:00")
    w.step("3-start-review")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_url(re.compile(r"/reviews/\d+/$"))
    w.step("4-campaign", says=".messages")
    w.nav("/audit/")
    page.locator('a[href="/departments/alpha/#policy-versions"]').first.click()
    page.wait_for_load_state()
    w.step("5-policy-versions", says="#policy-versions")
    page.context.close()
    assert w.problems == []
    campaign = ReviewCampaign.objects.get(name="Walk review")
    assert (
        campaign.items.count()
        == VirtualKey.objects.filter(department=console["a"], status=Status.ACTIVE).count()
    )
    assert Decimal(console["a"].auto_approve_max_budget) == Decimal("10")
