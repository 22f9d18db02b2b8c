"""Every page with a table, on a 390 px phone, in English and Japanese: no action (a button or
a link in a row) and no figure (a number cell) lies beyond the screen's edge, measured with
getBoundingClientRect. Tables turn into one card per row there (portal.js, portal.css), so
nothing needs a sideways scroll to be found. Screenshots:
test-results/screenshots/phone-<role>-<page>-<language>.png."""

from __future__ import annotations

import pytest

from tenants.demo import DEMO_EMAIL_DOMAIN
from tenants.models import User

from .test_ux_browser import SHOTS, console, open_as, pages  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = 390

# Beyond the main pages of each role (tests/test_ux_browser.py): the other pages with tables.
MORE = {
    "developer": [],
    "lead": [
        ("department", "/departments/alpha/"),
        ("department-recent", "/costs/departments/alpha/recent/"),
        ("alerts", "/costs/alerts/"),
        ("anomalies", "/costs/anomalies/"),
        ("delegations", "/approvals/delegations/"),
    ],
    "infra": [
        ("org-recent", "/costs/org/recent/"),
        ("reviews", "/reviews/"),
        ("sla", "/approvals/sla/"),
    ],
}
USERS = {"developer": "dev_a", "lead": "lead_a", "infra": "infra"}

# What lies beyond the viewport: actions and figures in tables, and the buttons of forms.
OFF_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const wanted = 'main table a, main table button, main table input[type=submit], '
    + 'main table td.num, main .actions button, main form button';
  const out = [];
  for (const e of document.querySelectorAll(wanted)) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height) continue;  // hidden
    if (r.right > width + 0.5 || r.left < -0.5) {
      out.push(`${e.tagName.toLowerCase()} "${e.textContent.trim().slice(0, 30)}" `
        + `at ${Math.round(r.left)}–${Math.round(r.right)} px`);
    }
  }
  return out;
}"""


def off_screen(page, url: str, shot: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    return [f"{shot}: {problem}" for problem in page.evaluate(OFF_SCREEN)]


def test_the_check_finds_what_is_off_screen(browser):
    page = browser.new_page(viewport={"width": PHONE, "height": 844})
    page.set_content(
        "<main><table><tr><td style='white-space:nowrap'>"
        + "x" * 120
        + "</td><td class=num>12.00</td><td><a href=#>Decide</a></td></tr></table></main>"
    )
    assert len(page.evaluate(OFF_SCREEN)) == 2
    page.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("role", ["developer", "lead", "infra"])
def test_no_action_or_figure_is_off_screen_on_a_phone(console, live_server, browser, role, lang):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, console[USERS[role]], lang)
    page.set_viewport_size({"width": PHONE, "height": 844})
    problems = []
    for name, path in pages(console)[role] + MORE[role]:
        problems += off_screen(page, live_server.url + path, f"phone-{role}-{name}-{lang}")
    page.context.close()
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_demo_sign_in_buttons_are_on_screen(live_server, browser, lang, settings):
    settings.DEMO_MODE = True
    for name in ("kenji.tanaka", "a.very.long.name.of.someone"):
        email = f"{name}@{DEMO_EMAIL_DOMAIN}"
        User.objects.create(username=email, email=email, display_name=name.title())
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, None, lang)
    page.set_viewport_size({"width": PHONE, "height": 844})
    problems = off_screen(page, live_server.url + "/demo/sign-in/", f"phone-demo-sign-in-{lang}")
    assert page.locator("button[data-demo-user]").count() == 2
    page.context.close()
    assert problems == []
