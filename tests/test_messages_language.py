"""Every message in its recipient's language: budget alerts, anomalies, drift, request and
stage e-mails, and their webhooks. Each is rendered for a Japanese and an English recipient;
the Japanese one keeps no English text of the catalogue (every msgid fragment the English
rendering used is gone), the English one is untouched."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation
from django.utils.translation import trans_real

from approvals import mail as approval_mail
from approvals import notify
from approvals.lifecycle import Status
from approvals.models import RequestStage
from costs import alerts, anomalies
from costs.forecast import Forecast
from costs.models import BudgetAlert, SpendAnomaly
from keys import drift
from keys import notify as keys_notify
from keys.models import VirtualKey
from projects import notify as projects_notify
from tenants import languages
from tenants.models import User

from .doubles.teams import TeamsWebhookDouble
from .factories import make_key, make_project

pytestmark = pytest.mark.django_db

STARTED = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
PLACEHOLDER = re.compile(r"%\(\w+\)[-+ #0]*\d*(?:\.\d+)?[sdf]|%[sd%]")


def fragments(msgid: str) -> list[str]:
    """The English runs of a msgid between its placeholders that say something (two words)."""
    out = []
    for part in PLACEHOLDER.split(msgid):
        part = part.strip(" .,:;()\"'[]\n")
        if len(part) >= 10 and re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", part):
            out.append(part)
    return out


@pytest.fixture(scope="module")
def catalogue_fragments() -> set[str]:
    with translation.override("ja"):
        catalog = trans_real.translation("ja")._catalog
    msgids = {k[0] if isinstance(k, tuple) else k for k, _v in catalog.items() if k}
    return {f for msgid in msgids for f in fragments(msgid)}


def assert_japanese(ja: str, en: str, catalogue_fragments: set[str]) -> None:
    used = {f for f in catalogue_fragments if f in en}
    assert used, f"the English rendering used no catalogue text:\n{en}"
    left = sorted(f for f in used if f in ja)
    assert left == [], f"English left in the Japanese message: {left}\n{ja}"


def sent_to(user: User) -> str:
    return "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox if user.email in m.to)


def render(user: User, language: str, send, capture) -> str:
    """What ``send()`` mails to ``user`` once their stored language is ``language``."""
    User.objects.filter(pk=user.pk).update(language=language)
    mail.outbox.clear()
    with capture(execute=True):
        send()
    text = sent_to(user)
    assert text, "nothing was sent"
    return text


@pytest.fixture
def key(org):
    return make_key(
        org,
        name="support-bot",
        status=Status.ACTIVE,
        litellm_key_id="tok-1",
        expires_at=datetime.datetime(2026, 12, 24, tzinfo=datetime.UTC),
        last_error="LiteLLM said no",
    )


@pytest.fixture
def webhook(settings):
    with TeamsWebhookDouble() as double:
        settings.NOTIFY_WEBHOOK_URL = double.url
        yield double


def alert(org, kind="actual") -> BudgetAlert:
    return BudgetAlert.objects.create(
        scope="department",
        subject=f"department:{org['a'].pk}",
        period=datetime.date(2026, 12, 1),
        kind=kind,
        threshold=80 if kind == "actual" else 100,
        department=org["a"],
        spend=Decimal("850"),
        forecast=Decimal("1300"),
        budget=Decimal("1000"),
        recipients=["lead_a@example.com"],
    )


FC = Forecast(Decimal("1300"), Decimal("1200"), Decimal("1400"), 10, False)


@pytest.mark.parametrize("kind", ["actual", "forecast"])
def test_budget_alert_mail_in_each_recipients_language_and_says_what_langfuse_adds(
    org, kind, webhook, catalogue_fragments, django_capture_on_commit_callbacks
):
    a = alert(org, kind)
    lead = org["lead_a"]

    def send():
        alerts._notify_on_commit(a, [lead.email, "outsider@example.com"], FC, Decimal("120"))

    ja = render(lead, "ja", send, django_capture_on_commit_callbacks)
    assert "Langfuse" in ja and "$120.00" in ja
    # The outsider (unknown to the portal) got the default language, in a mail of its own.
    assert [m.to for m in mail.outbox] == [["lead_a@example.com"], ["outsider@example.com"]]
    en = render(lead, "en", send, django_capture_on_commit_callbacks)
    assert "$120.00 of the spend is tuning projects' cost reported by Langfuse" in en
    assert_japanese(ja, en, catalogue_fragments)
    # The webhook follows the department's language.
    org["a"].language = "ja"
    org["a"].save()
    webhook.received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        alerts._notify_on_commit(a, [], FC, Decimal("120"))
    [posted] = webhook.received
    assert_japanese(posted["text"], alerts.describe(a, FC, Decimal("120")), catalogue_fragments)


def test_anomaly_mail_and_webhook_in_the_recipients_language(
    org, key, webhook, catalogue_fragments, django_capture_on_commit_callbacks
):
    anomaly = SpendAnomaly.objects.create(
        scope="department",
        subject=f"department:{org['a'].pk}",
        day=datetime.date(2026, 12, 1),
        department=org["a"],
        spend=Decimal("95"),
        baseline=Decimal("10"),
        limit=Decimal("30"),
        top_model="gpt-4o",
        top_model_spend=Decimal("90"),
        top_key_hash="tok-1",
        top_key_name="support-bot",
        top_key_spend=Decimal("90"),
        recipients=["lead_a@example.com"],
    )
    lead = org["lead_a"]
    ja = render(lead, "ja", lambda: anomalies._announce(anomaly), lambda **kw: _Now())
    en = render(lead, "en", lambda: anomalies._announce(anomaly), lambda **kw: _Now())
    assert "Spend anomaly on 2026-12-01" in en
    assert_japanese(ja, en, catalogue_fragments)
    posted_en = webhook.received[-1]["text"]
    org["a"].language = "ja"
    org["a"].save()
    anomalies._announce(anomaly)
    assert_japanese(webhook.received[-1]["text"], posted_en, catalogue_fragments)


class _Now:
    """``_announce`` sends at once (it is itself the after-commit step)."""

    def __enter__(self):
        return []

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize(
    ("name", "recipient"),
    [
        ("request_submitted", "lead_a"),
        ("request_decided", "dev_a"),
        ("key_ready", "dev_a"),
        ("provisioning_failed", "dev_a"),
        ("expiring_soon", "dev_a"),
        ("ended", "dev_a"),
    ],
)
def test_request_mails_in_the_recipients_language(
    org, key, name, recipient, catalogue_fragments, django_capture_on_commit_callbacks
):
    if name == "request_decided":
        VirtualKey.objects.filter(pk=key.pk).update(decided_by=org["lead_a"])
        key.refresh_from_db()
    user = org[recipient]
    send = lambda: getattr(approval_mail, name)(key)  # noqa: E731
    ja = render(user, "ja", send, django_capture_on_commit_callbacks)
    en = render(user, "en", send, django_capture_on_commit_callbacks)
    assert_japanese(ja, en, catalogue_fragments)


def test_request_webhooks_in_the_departments_language(
    org, key, webhook, catalogue_fragments, django_capture_on_commit_callbacks
):
    project = make_project(org)
    for language in ("en", "ja"):
        org["a"].language = language
        org["a"].save()
        key.department.language = language
        with django_capture_on_commit_callbacks(execute=True):
            approval_mail.request_submitted(key)
            approval_mail.provisioning_failed(key)
            keys_notify.owner_left(org["dev_a"], [key], [], [org["a"]], reason="left")
            projects_notify.manual_fulfilment_needed(project)
    en, ja = webhook.received[:4], webhook.received[4:]
    for en_post, ja_post in zip(en, ja, strict=True):
        assert_japanese(ja_post["text"], en_post["text"], catalogue_fragments)


@pytest.mark.parametrize("name", ["stage_started", "reminder", "escalated", "expired"])
def test_stage_mails_in_the_recipients_language(
    org, key, name, catalogue_fragments, django_capture_on_commit_callbacks
):
    stage = RequestStage(
        name="Lead", started_at=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    )
    lead, dev = org["lead_a"], org["dev_a"]
    user = dev if name == "expired" else lead
    calls = {
        "stage_started": lambda: notify.stage_started(key, stage, [lead]),
        "reminder": lambda: notify.reminder(key, stage, [lead]),
        "escalated": lambda: notify.escalated(key, stage, [lead]),
        "expired": lambda: notify.expired(key, stage),
    }
    ja = render(user, "ja", calls[name], django_capture_on_commit_callbacks)
    en = render(user, "en", calls[name], django_capture_on_commit_callbacks)
    assert_japanese(ja, en, catalogue_fragments)


def test_a_group_of_recipients_gets_one_mail_per_language(
    org, key, django_capture_on_commit_callbacks
):
    stage = RequestStage(
        name="Lead", started_at=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    )
    User.objects.filter(pk=org["lead_a"].pk).update(language="ja")
    User.objects.filter(pk=org["infra"].pk).update(language="en")
    with django_capture_on_commit_callbacks(execute=True):
        notify.reminder(key, stage, [org["lead_a"], org["infra"], org["lead_b"]])
    by_to = {tuple(m.to): m for m in mail.outbox}
    assert set(by_to) == {("lead_a@example.com",), ("infra@example.com", "lead_b@example.com")}
    assert "Reminder" in by_to[("infra@example.com", "lead_b@example.com")].subject
    assert "Reminder" not in by_to[("lead_a@example.com",)].subject


def test_drift_in_the_readers_language(org, key, client: Client, catalogue_fragments):
    fields = [
        {"field": "max_budget", "portal": "5.00", "litellm": "9.00"},
        {"field": "deleted"},
    ]
    with translation.override("en"):
        en = drift.describe(fields)
    with translation.override("ja"):
        ja = drift.describe(fields)
    assert_japanese(ja, en, catalogue_fragments)
    VirtualKey.objects.filter(pk=key.pk).update(drift=en, drift_fields=fields)
    client.force_login(org["infra"])
    page = client.get(f"/keys/{key.pk}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    cell = re.search(r'<td class="status failed" id="drift">(.*?)</td>', page, re.S).group(1)
    assert_japanese(cell, en, catalogue_fragments)


def test_the_language_picker_and_entra_set_the_stored_language(org, client: Client):
    dev = org["dev_a"]
    assert languages.fill_from_entra(dev, "ja-JP") and dev.language == "ja"
    assert not languages.fill_from_entra(dev, "en-US")  # the first choice stays
    client.force_login(dev)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    dev.refresh_from_db()
    assert dev.language == "en"
    assert languages.normalise("fr-FR") == "" and languages.of_user(None) == "en"
    assert languages.by_language(["dev_a@example.com", "x@example.com"]) == {
        "en": ["dev_a@example.com", "x@example.com"]
    }
