"""Model access in a real browser, in English and Japanese, at 1280 and 390 px: the catalogue's
"Request access", the key form with prices and its estimate, the request form, the request's
page and infra's decision page. Each page passes axe-core's WCAG A/AA checks, has no English
left in Japanese and no horizontal overflow; screenshots go to test-results/screenshots/."""

from __future__ import annotations

import re

import pytest

from modelaccess.models import ModelAccessRequest

from . import test_ux_browser as ux
from .test_ux_browser import LAPTOP, PHONE, SHOTS, check_page, open_as

# The page checks' fixtures: the console organisation, axe-core and the English msgids.
console, axe_source, english_msgids = ux.console, ux.axe_source, ux.english_msgids
sync_db_with_playwright = ux.sync_db_with_playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_developer_asks_for_a_model_and_infra_sees_the_facts(
    console, live_server, browser, lang, axe_source, english_msgids
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    problems = []
    page = open_as(browser, live_server, console["dev_a"], lang)
    problems += check_page(
        page, f"{url}/models/", "model-access-catalogue", lang, axe_source, english_msgids
    )
    # The key form: each model with its prices, and the month's estimate for the ticked ones.
    for width in (LAPTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{url}/keys/request/")
        page.check("input[name=llm_models][value=claude-3-5-sonnet]")
        page.wait_for_selector("#estimate-range")
        assert re.search(
            r"claude-3-5-sonnet ·[^\n]*3\.00[^\n]*15\.00", page.inner_text("#key-request-form")
        )
        page.screenshot(
            path=str(SHOTS / f"model-access-key-form-{lang}-{width}.png"), full_page=True
        )

    # From the catalogue's row of a model alpha lacks, to the form with it chosen.
    page.set_viewport_size({"width": LAPTOP, "height": 900})
    page.goto(f"{url}/models/")
    row = page.locator("#model-catalogue tr", has_text="gpt-4o ")
    row.locator("a.button").first.click()
    page.wait_for_url(re.compile(r"/models/request/\?"))
    assert page.input_value("#id_model_name") == "gpt-4o"
    form_url = page.url
    problems += check_page(page, form_url, "model-access-form", lang, axe_source, english_msgids)
    page.set_viewport_size({"width": LAPTOP, "height": 900})
    page.goto(form_url)
    page.fill("#id_expected_monthly_spend", "40")
    page.fill("#id_justification", "Longer context for the contracts assistant.")
    page.click("#model-access-form button[type=submit]")
    page.wait_for_url(re.compile(r"/models/requests/\d+/$"))
    obj = ModelAccessRequest.objects.get()
    assert (obj.model_name, obj.expected_monthly_spend) == ("gpt-4o", 40)
    problems += check_page(page, page.url, "model-access-request", lang, axe_source, english_msgids)
    page.context.close()

    infra = open_as(browser, live_server, console["infra"], lang)
    problems += check_page(
        infra, f"{url}/approvals/models/{obj.pk}/", "model-access-decide", lang, axe_source,
        english_msgids,
    )  # fmt: skip
    facts = infra.inner_text("#model-access-facts")
    assert "gpt-4o" in facts and "2.50" in facts and "10.00" in facts and "40.00" in facts
    assert "claude-3-5-sonnet, gpt-4o-mini" in facts
    infra.context.close()
    assert problems == []
