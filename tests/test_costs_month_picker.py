"""The month picker of the cost pages: the picker, its arrows, the headings and the address
move together (also when htmx swaps the page's body), and a month that has not started is
refused with a message, on the pages and in the API."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from costs.ingest import upsert_daily

from . import html_figures as page
from .browser import signed_in_page
from .test_costs_support import make_key, row

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
SHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"


@pytest.fixture
def spent(org):
    org["a"].litellm_team_id = "team-alpha"
    org["a"].save()
    make_key(org["dev_a"], org["a"], "hash-a1", name="support-bot")
    upsert_daily(
        [
            row(day=datetime.date(2026, 12, 2), spend="4"),
            row(day=datetime.date(2026, 11, 12), spend="7"),
        ]
    )
    return org


def get(user, path: str):
    client = Client()
    client.force_login(user)
    return client.get(path, follow=True)


PAGES = [
    ("dev_a", "/costs/me/"),
    ("lead_a", "/costs/departments/alpha/"),
    ("infra", "/costs/org/"),
]


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("who", "path"), PAGES)
def test_a_future_month_is_refused_with_a_message(spent, who, path):
    response = get(spent[who], f"{path}?month=2027-01")
    assert response.redirect_chain == [(path, 302)]
    html = response.content.decode()
    assert "2027-01 has not started, so nothing is spent in it yet" in html
    assert page.text(html, "month-picker").count("2026-11") == 1  # the only arrow: back
    assert 'max="2026-12"' in html
    assert 'id="month-next"' not in html


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_future_month_is_a_400_in_the_api(spent, api):
    response = api.get(spent["dev_a"], "/costs/me?month=2027-01")
    assert response.status_code == 400
    assert "2027-01 has not started" in response.json()["title"]
    assert api.get(spent["dev_a"], "/costs/me?month=2026-11").status_code == 200


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_past_month_says_which_month_everywhere(spent):
    html = get(spent["dev_a"], "/costs/me/?month=2026-11").content.decode()
    assert page.text(html, "daily-heading") == "2026-11, day by day (cumulative)"
    assert 'value="2026-11"' in html
    assert page.text(html, "month-prev") == "← 2026-10"
    assert page.text(html, "month-next") == "2026-12 →"
    this = get(spent["dev_a"], "/costs/me/").content.decode()
    assert page.text(this, "daily-heading") == "This month, day by day (cumulative)"
    lead = get(spent["lead_a"], "/costs/departments/alpha/?month=2026-11").content.decode()
    assert page.text(lead, "daily-heading") == "2026-11 (cumulative) vs budget"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_the_arrows_move_picker_links_headings_and_address_together(
    spent, live_server, browser, width, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab = signed_in_page(browser, live_server, spent["dev_a"])
    tab.set_viewport_size({"width": width, "height": 900})
    tab.goto(f"{live_server.url}/costs/me/")
    this = tab.input_value("#month")
    year, month = map(int, this.split("-"))
    before = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
    assert tab.locator("#month-next").count() == 0  # no arrow into a month not started
    tab.click("#month-prev")
    tab.wait_for_url(re.compile(rf"\?month={before}$"))
    tab.wait_for_function(f"document.querySelector('#month').value === '{before}'")
    assert tab.inner_text("#daily-heading") == f"{before}, day by day (cumulative)"
    assert tab.inner_text("#month-next") == f"{this} →"
    assert before in tab.inner_text("#costs-body .kpis")
    # The swapped tables are laid out as the page's own (one card per row on a phone).
    assert (
        tab.locator("#costs-body table").count() == tab.locator("#costs-body table.stack").count()
    )
    tab.screenshot(path=str(SHOTS / f"developer-month-picker-past-en-{width}.png"), full_page=True)
    tab.click("#month-next")
    tab.wait_for_url(re.compile(rf"\?month={this}$"))
    tab.wait_for_function(f"document.querySelector('#month').value === '{this}'")
    assert tab.inner_text("#daily-heading") == "This month, day by day (cumulative)"
    assert tab.locator("#month-next").count() == 0
    # Back in the browser's history: the page of the address shown.
    tab.go_back()
    tab.wait_for_function(f"document.querySelector('#month').value === '{before}'")
    assert tab.inner_text("#daily-heading") == f"{before}, day by day (cumulative)"
    tab.context.close()
