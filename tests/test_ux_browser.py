"""Every role's main pages in a real browser, in English and Japanese, on a laptop and on a
390 px phone: no horizontal overflow, no English left on Japanese pages, and axe-core's
WCAG 2.1 A/AA checks pass. Screenshots of every page go to test-results/screenshots/ (kept by
CI as artefacts), so a reviewer can look without running anything."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import trans_real

from approvals.lifecycle import Status
from catalogue.models import CatalogueModel
from costs import periods
from costs.ingest import upsert_daily
from costs.models import SpendAnomaly
from pipelines.models import PipelineIdentity
from portal import audit
from portal.days import utc_today

from .browser import signed_in_page
from .factories import ask_budget
from .test_costs_support import make_key, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / ".test-tools" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-results" / "screenshots"
PHONE, LAPTOP = 390, 1280
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module", autouse=True)
def sync_db_with_playwright():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(ROOT)} missing: `make test-services` installs axe-core")
    return AXE.read_text()


@pytest.fixture(scope="session")
def english_msgids() -> list[tuple[str, re.Pattern]]:
    """Catalogue strings whose Japanese differs: seen verbatim on a ja page, they are
    untranslated. Placeholders split a msgid; its longest literal part is looked for."""
    with translation.override("ja"):
        catalog = trans_real.translation("ja")._catalog
    found = []
    for msgid, msgstr in catalog.items():
        text = msgid[0] if isinstance(msgid, tuple) else msgid
        if not text or msgstr == text or not re.search("[A-Za-z]", text):
            continue
        parts = re.split(r"%\(\w+\)[sd]|%[sd]|\{\{.*?\}\}", text)
        literal = max((p.strip(" .:,()–-") for p in parts), key=len)
        if len(literal) < 4 or (len(parts) > 1 and len(literal) < 12):
            continue  # too short to tell from data (names, codes)
        found.append((text, re.compile(r"(?<![\w-])" + re.escape(literal) + r"(?![\w-])")))
    return found


@pytest.fixture
def console(org):
    """A small organisation with something on every page."""
    today = utc_today()
    month = periods.month_start(today)
    for dept, team in ((org["a"], "team-alpha"), (org["b"], "team-beta")):
        dept.litellm_team_id = team
        dept.auto_approve_max_budget = Decimal("10")
        dept.auto_approve_max_lifetime_days = 7
        dept.save()
    active = make_key(org["dev_a"], org["a"], "hash-a1", name="support-bot")
    make_key(org["dev_a"], org["a"], "hash-a2", name="batch-jobs", max_budget=Decimal("5"))
    failed = make_key(
        org["dev_a"],
        org["a"],
        "hash-a3",
        name="eval-runner",
        status=Status.FAILED,
        last_error="LiteLLM HTTP 400: budget above the team's max_budget",
    )
    pending = make_key(org["dev_a"], org["a"], "", name="notebook-agent", status=Status.SUBMITTED)
    ask_budget(org)
    rows = []
    for i in range(45):
        day = today - datetime.timedelta(days=i)
        rows.append(row(day=day, key="hash-a1", spend="1.25", prompt=120_000, completion=4_500))
        rows.append(row(day=day, key="hash-a2", spend="0.000093", prompt=12, completion=3))
        rows.append(row(day=day, team="team-beta", user="oid-dev_b", key="hash-b1", spend="3"))
    upsert_daily(rows)
    SpendAnomaly.objects.create(
        scope="department", subject=f"department:{org['a'].pk}", department=org["a"],
        day=today - datetime.timedelta(days=1), spend=Decimal("31.40"), baseline=Decimal("4.15"),
        limit=Decimal("10.38"), top_model="gpt-4o-mini", top_model_spend=Decimal("30.10"),
        top_key_hash="hash-a1", top_key_name="support-bot", top_key_spend=Decimal("29.80"),
    )  # fmt: skip
    audit.record(
        "virtualkey.approved",
        active,
        actor=org["lead_a"],
        before={"status": "submitted", "decided_at": None},
        after={"status": "approved", "decided_at": "2026-12-01T23:30:00+00:00"},
    )
    for name, provider, inp, out in (
        ("gpt-4o-mini", "openai", "0.15", "0.60"),
        ("claude-3-5-sonnet", "anthropic", "3", "15"),
        ("gpt-4o", "openai", "2.50", "10"),
    ):  # as the hourly refresh stores LiteLLM's /model_group/info (tests/test_catalogue.py)
        CatalogueModel.objects.create(
            name=name, providers=[provider], mode="chat", context_window=128_000,
            input_price=Decimal(inp), output_price=Decimal(out), seen_at=timezone.now(),
        )  # fmt: skip
    assert month <= today
    trust = {"issuer": "https://token.actions.githubusercontent.com",
             "audience": "https://portal.example.com", "llm_models": ["gpt-4o-mini"],
             "requester": org["dev_a"], "department": org["a"], "lifetime_days": 90,
             "justification": "Evaluation on every push to main."}  # fmt: skip
    pipeline = PipelineIdentity.objects.create(
        name="payments-eval", status=Status.ACTIVE, activated_at=timezone.now(),
        claim_rules={"repository": "octo-org/payments", "ref": "refs/heads/main"}, **trust,
    )  # fmt: skip
    waiting = PipelineIdentity.objects.create(
        name="search-eval", claim_rules={"repository": "octo-org/search"}, **trust
    )
    return {**org, "active": active, "failed": failed, "pending": pending,
            "pipeline": pipeline, "pipeline_pending": waiting}  # fmt: skip


def pages(c) -> dict[str, list[tuple[str, str]]]:
    return {
        "developer": [
            ("home", "/"),
            ("my-keys", "/keys/"),
            ("request-key", "/keys/request/"),
            ("models", "/models/"),
            ("key-active", f"/keys/{c['active'].pk}/"),
            ("key-failed", f"/keys/{c['failed'].pk}/"),
            ("projects", "/projects/"),
            ("my-spend", "/costs/me/"),
            ("pipelines", "/pipelines/"),
            ("request-pipeline", "/pipelines/new/"),
            ("pipeline", f"/pipelines/{c['pipeline'].pk}/"),
        ],
        "lead": [
            ("home", "/"),
            ("approvals", "/approvals/"),
            ("decide-key", f"/approvals/keys/{c['pending'].pk}/"),
            ("decide-pipeline", f"/approvals/pipelines/{c['pipeline_pending'].pk}/"),
            ("department-costs", "/costs/departments/alpha/"),
            ("member-budgets", "/costs/departments/alpha/member-budgets/"),
            ("departments", "/departments/"),
        ],
        "infra": [
            ("home", "/"),
            ("approvals", "/approvals/"),
            ("operations", "/operations/"),
            ("audit-log", "/audit/"),
            ("org-costs", "/costs/org/"),
            ("directory", "/directory/"),
            ("not-found", "/keys/999999/"),
        ],
    }


USERS = {"developer": "dev_a", "lead": "lead_a", "infra": "infra"}


def open_as(browser, live_server, user, lang):
    locale = "ja-JP" if lang == "ja" else "en-GB"
    if user:
        page = signed_in_page(browser, live_server, user, locale=locale)
    else:
        page = browser.new_context(locale=locale).new_page()
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}]
    )
    return page


def check_page(page, url, name, lang, axe_source, english_msgids) -> list[str]:
    """Load ``url`` at both widths; return what is wrong (empty: nothing)."""
    problems = []
    page.set_viewport_size({"width": LAPTOP, "height": 900})
    page.goto(url)
    page.wait_for_load_state("networkidle")
    title = page.title()
    if not title.strip() or "<" in title:
        problems.append(f"{name}: bad title {title!r}")
    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{LAPTOP}.png"), full_page=True)
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})
             .then(r => r.violations.map(v => v.id + ': ' + v.nodes.slice(0, 3)
               .map(n => n.target.join(' ')).join(' | ')))""",
        AXE_TAGS,
    )
    problems += [f"{name} axe {v}" for v in violations]
    # A label's `for` finds the first element with its id: every id must be unique.
    duplicated = page.evaluate(
        """() => { const seen = {}; document.querySelectorAll('[id]')
             .forEach(e => { seen[e.id] = (seen[e.id] || 0) + 1; });
             return Object.keys(seen).filter(k => seen[k] > 1); }"""
    )
    problems += [f"{name}: id {i!r} used more than once" for i in duplicated]
    if lang == "ja":
        # Visible text, without the language picker's own names and the code samples.
        text = page.evaluate(
            """() => { const b = document.body.cloneNode(true);
                 b.querySelectorAll('select, script, style, code, pre').forEach(e => e.remove());
                 return b.textContent; }"""
        )
        problems += [
            f"{name}: untranslated {msgid!r}" for msgid, rx in english_msgids if rx.search(text)
        ]
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.wait_for_timeout(100)
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 0:
        problems.append(f"{name}: {overflow}px horizontal overflow at {PHONE}px")
    page.screenshot(path=str(SHOTS / f"{name}-{lang}-{PHONE}.png"), full_page=True)
    return problems


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("role", ["developer", "lead", "infra"])
def test_main_pages_per_role(console, live_server, browser, role, lang, axe_source, english_msgids):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, console[USERS[role]], lang)
    problems = []
    for name, path in pages(console)[role]:
        problems += check_page(
            page, live_server.url + path, f"{role}-{name}", lang, axe_source, english_msgids
        )
    page.context.close()
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_sign_in_page(live_server, browser, lang, axe_source, english_msgids):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, None, lang)
    problems = check_page(
        page,
        live_server.url + "/accounts/login/",
        "anonymous-sign-in",
        lang,
        axe_source,
        english_msgids,
    )
    page.context.close()
    assert problems == []


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_key_form_estimates_a_month_as_models_are_ticked(console, live_server, browser, lang):
    """The estimate follows the ticked models (htmx), from the developer's own last 30 days."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_as(browser, live_server, console["dev_a"], lang)
    for width in (LAPTOP, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server.url + "/keys/request/")
        page.check("input[name=llm_models][value=claude-3-5-sonnet]")
        page.wait_for_selector("#estimate-range")
        # 30 whole days of the console's support-bot (120,000 / 4,500 tokens a day) and
        # batch-jobs (12 / 3): 3,600,360 input and 135,090 output tokens at 3 and 15 USD / 1M.
        assert page.inner_text("#estimate-range") == "USD 12.83"
        page.check("input[name=llm_models][value=gpt-4o-mini]")
        page.wait_for_function(
            "document.querySelector('#estimate-range').textContent.includes('–')"
        )
        assert page.inner_text("#estimate-range") == "USD 0.62 – 12.83"
        page.locator("#estimate-box").screenshot(
            path=str(SHOTS / f"developer-key-estimate-{lang}-{width}.png")
        )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    page.context.close()


def test_phone_menu_collapses_and_opens(console, live_server, browser):
    page = open_as(browser, live_server, console["lead_a"], "en")
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.goto(live_server.url + "/costs/departments/alpha/")
    header = page.locator("header.top").bounding_box()
    assert header["height"] < 80  # one line: brand and the Menu button
    assert not page.locator("nav.main").is_visible()
    page.click("#menu-toggle")
    assert page.locator("nav.main").is_visible()
    assert page.get_attribute("#menu-toggle", "aria-expanded") == "true"
    current = page.locator("nav.main a[aria-current=page]")
    assert current.inner_text() == "Costs"
    page.context.close()


def test_sign_in_language_picker_switches_to_japanese(live_server, browser):
    page = open_as(browser, live_server, None, "en")
    page.goto(live_server.url + "/accounts/login/")
    with page.expect_navigation():
        page.select_option("select[name=language]", "ja")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "ja"
    assert "/i18n/setlang/" not in page.url
    page.context.close()


def test_signed_out_on_a_phone_the_language_can_be_switched(live_server, browser):
    page = open_as(browser, live_server, None, "en")
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.goto(live_server.url + "/accounts/login/")
    picker = page.locator("select[name=language]")
    assert picker.is_visible()
    box = picker.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    with page.expect_navigation():
        page.select_option("select[name=language]", "ja")
    assert page.get_attribute("html", "lang") == "ja"
    page.context.close()


def test_the_checks_themselves_catch_problems(browser, axe_source, english_msgids):
    """The accessibility and translation checks are not vacuous: a page with known faults
    fails them."""
    page = browser.new_page()
    page.set_content(
        '<html><head><title>t</title></head><body><main><img src="x.png">'
        '<p style="color:#ccc;background:#fff">My keys</p><input type="text"></main></body></html>'
    )
    page.add_script_tag(content=axe_source)
    ids = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => v.id))",
        AXE_TAGS,
    )
    assert {"image-alt", "color-contrast", "label"} <= set(ids)
    assert any(rx.search(page.inner_text("body")) for _, rx in english_msgids)
    page.close()


def _contrast(rgb_a: str, rgb_b: str) -> float:
    def luminance(rgb: str) -> float:
        channels = [int(x) / 255 for x in re.findall(r"\d+", rgb)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(rgb_a), luminance(rgb_b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_input_borders_stand_out_3_to_1(org, live_server, browser):
    """WCAG 1.4.11: a field's border against its background, at least 3:1 (was 1.3:1)."""
    page = open_as(browser, live_server, org["dev_a"], "en")
    page.goto(live_server.url + "/keys/request/")
    for selector in ("#id_name", "#id_max_budget", "select[name=department]", "#id_justification"):
        border, background = page.eval_on_selector(
            selector,
            "e => [getComputedStyle(e).borderTopColor, getComputedStyle(e).backgroundColor]",
        )
        assert _contrast(border, background) >= 3, (selector, border, background)
    page.context.close()
