"""Small things a person trips over on the console: waiting tuning projects among my waiting
requests, "just now" instead of "0 minutes", names (not e-mail addresses) in a key's
timeline, the "!" badge said in words, the site name in every title, and infra's menu on one
line at 1280 px."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone, translation

from approvals.lifecycle import Status
from costs import rollups
from costs.models import DailySpend
from keys.services import ROTATED
from portal import audit
from portal.templatetags.portal_ui import age
from tenants.models import Membership

from . import html_figures as page
from .browser import signed_in_page
from .factories import make_key, make_project


def html(user, path: str, lang: str = "en") -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200, path
    return response.content.decode()


@pytest.mark.django_db
def test_my_waiting_requests_include_tuning_projects(org):
    make_key(org, name="waiting-key", status=Status.SUBMITTED)
    make_project(org, name="waiting-project", status=Status.SUBMITTED)
    make_project(org, name="by-hand-project", status=Status.MANUAL)
    make_project(org, name="live-project", status=Status.ACTIVE)
    waiting = page.text(html(org["dev_a"], "/"), "home-requests")
    assert "waiting-key" in waiting
    assert "waiting-project" in waiting
    assert "by-hand-project" in waiting
    assert "live-project" not in waiting


@pytest.mark.parametrize(("lang", "now", "minutes"), [("en", "just now", "5 minutes ago"),
                                                       ("ja", "たった今", "5分 前")])  # fmt: skip
def test_under_a_minute_is_just_now(lang, now, minutes):
    moment = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    later = moment + datetime.timedelta(seconds=20)
    with time_machine.travel(later, tick=False), translation.override(lang):
        assert age(moment, "waiting") == now
        assert age(moment) == now
        assert age(moment - datetime.timedelta(minutes=5)).replace("\xa0", " ") == minutes


@pytest.mark.django_db
@pytest.mark.parametrize(("lang", "now"), [("en", "just now"), ("ja", "たった今")])
def test_a_fresh_request_waits_just_now_on_the_queue_and_the_decision_page(org, lang, now):
    key = make_key(org, name="fresh", status=Status.SUBMITTED)
    queue = html(org["lead_a"], "/approvals/", lang)
    assert now in queue
    assert "0 minutes" not in queue and "0分" not in queue
    decide = html(org["lead_a"], f"/approvals/keys/{key.pk}/", lang)
    assert now in decide and "0分" not in decide and "0 minutes" not in decide


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "days", "retention"),
    [("en", "30 days", "retention 14 days"), ("ja", "30 日", "保持 14 日")],
)
def test_the_queue_says_lifetimes_in_words_in_both_languages(org, lang, days, retention):
    make_key(org, name="worded", status=Status.SUBMITTED)
    make_project(org, name="tuned", status=Status.SUBMITTED, lifetime_days=30, retention_days=14)
    queue = html(org["lead_a"], "/approvals/", lang).replace("\xa0", " ")
    assert f"USD 5.00 · {days}" in queue
    assert f"tuned · {retention} · {days}" in queue
    assert not re.search(r"\b\d+d\b", queue)  # no bare "30d" left for a reader to decode


@pytest.mark.django_db
def test_the_timeline_names_who_rotated_a_key(org):
    key = make_key(org, name="rotated-key", status=Status.ACTIVE, activated_at=timezone.now())
    audit.record(ROTATED, key, actor=org["dev_a"])
    timeline = page.text(html(org["dev_a"], f"/keys/{key.pk}/"), "timeline")
    assert re.search(r"Rotated .* · Dev_A", timeline), timeline
    assert "@" not in timeline


@pytest.mark.django_db
@pytest.mark.parametrize(("lang", "words"), [("en", "Secret waiting to be revealed"),
                                             ("ja", "表示待ちのシークレット")])  # fmt: skip
def test_the_badge_says_in_words_what_waits(org, lang, words):
    key = make_key(org, name="new-key", status=Status.ACTIVE)
    key.store_secret("sk-1234567890")
    key.save()
    project = make_project(org, name="new-project", status=Status.ACTIVE)
    project.store_secret("sk-lf-0987654321")
    project.save()
    for path in ("/keys/", "/projects/"):
        body = html(org["dev_a"], path, lang)
        visible = re.sub(r'title="[^"]*"', "", body)  # not in a tooltip: in the text
        assert f"</span> {words}</span>" in visible, path


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/approvals/", "/reviews/", "/approvals/delegations/"])
def test_titles_carry_the_site_name(org, path):
    title = re.search(r"<title>(.*?)</title>", html(org["infra"], path), re.S).group(1)
    assert title.endswith("· GenAI Portal"), title


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_infra_menu_fits_one_line_at_1280(org, live_server, browser, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Infra who is also a department's lead and developer (as in the demo): every menu entry,
    # the approvals badge and a long name.
    infra = org["infra"]
    infra.display_name = "Yamamoto Taro (Platform)"
    infra.save()
    Membership.objects.create(user=infra, department=org["a"], role="lead")
    make_key(org, name="waits", status=Status.SUBMITTED)
    tab = signed_in_page(browser, live_server, infra)
    tab.set_viewport_size({"width": 1280, "height": 800})
    tab.goto(f"{live_server.url}/")
    tops = tab.eval_on_selector_all(
        "nav.main a, .user-menu > *",
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))",
    )
    assert len(tops) >= 10
    assert max(tops) - min(tops) < 12, tops  # one line: brand, menu and user menu
    tab.context.close()


@pytest.mark.django_db
@pytest.mark.parametrize(("lang", "period"), [("en", "per month"), ("ja", "毎月")])
def test_the_budget_period_of_a_key_is_said_in_words(org, lang, period):
    key = make_key(org, name="worded", status=Status.ACTIVE, budget_duration="30d")
    DailySpend.objects.create(
        day=timezone.now().astimezone(datetime.UTC).date(), department=org["a"],
        team_id=org["a"].litellm_team_id, key=key, key_hash="hash-worded", user=org["dev_a"],
        model="gpt-4o-mini", spend=Decimal("1.5"), requests=3,
    )  # fmt: skip
    rollups.refresh_all()
    by_key = page.text(
        html(org["lead_a"], f"/costs/departments/{org['a'].slug}/", lang), "table-keys"
    )
    assert "worded" in by_key and period in by_key
    assert not re.search(r"\b\d+d\b", by_key)
