"""Playwright driving Debian's Chromium (no browser downloads here)."""

from __future__ import annotations

import os
import re

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous (Playwright's documented setting for Django).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def signed_in_page(browser, live_server, user, *, locale="en-GB"):
    """A browser tab signed in as ``user`` (a session like the one Entra sign-in creates)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    context = browser.new_context(locale=locale)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.session_key,
                "url": live_server.url,
            }
        ]
    )
    return context.new_page()


def request_key(page, url: str, name: str, budget: str, justification: str) -> None:
    """Send the key request form (``gpt-4o-mini``) from ``{url}/keys/request/``; wait for the
    key's page."""
    page.goto(f"{url}/keys/request/")
    page.fill("#id_name", name)
    page.check("input[name=llm_models][value='gpt-4o-mini']")
    page.fill("#id_max_budget", budget)
    page.fill("#id_justification", justification)
    page.click("#key-request-form button[type=submit]")
    page.wait_for_url(re.compile(r"/keys/\d+/$"))


def request_project(page, url: str, name: str, department=None) -> None:
    """Send the tuning-project request form from ``{url}/projects/request/`` (14 days, 7 days'
    retention); wait for the project's page."""
    page.goto(f"{url}/projects/request/")
    form = "#project-request-form"
    if department is not None:
        page.select_option(f"{form} #id_department", str(department.pk))
    page.fill(f"{form} #id_name", name)
    page.fill(f"{form} #id_purpose", "Evaluate the retrieval agent.")
    page.fill(f"{form} #id_lifetime_days", "14")
    page.fill(f"{form} #id_retention_days", "7")
    page.fill(f"{form} #id_justification", "Tuning before the pilot.")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(re.compile(r"/projects/\d+/$"))
