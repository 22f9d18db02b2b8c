"""Spend anomalies: precision and recall on synthetic series with known spikes, slow growth and
weekend patterns; then detection on stored spend (once per subject and day, top model and key,
mail to lead and owner, webhook), on the real PostgreSQL."""

import datetime
import http.server
import json
import math
import random
import threading
from types import SimpleNamespace

import pytest
from django.core import mail

from costs import anomalies
from costs.anomalies import Thresholds, flagged_days, judge
from costs.ingest import upsert_daily
from costs.models import SpendAnomaly

from . import test_costs_support as support
from .test_costs_support import row

costs_org = support.costs_org
START = datetime.date(2026, 1, 5)  # a Monday
DAYS = 150


def synthetic(seed: int, subjects: int = 300):
    """Series with known anomalies: (series, first day, set of spike days) per subject.

    Each subject: a weekday level of USD 10–300, weekends at 0–60 % of it, lognormal noise
    (σ 0.1–0.3), a third growing slowly (0.5–1.5 % a day, compounding: up to 4× over the
    series, never a spike), some starting late (a new key), and 0–4 spikes of 3–8× the day's
    usual value, never in the subject's first 21 days. A spike is placed only on a day whose
    usual value is at least USD 10, so that 3–8× of it is money worth an alert by any measure;
    the labels are the generator's own, never derived from the detector's thresholds.
    """
    rng = random.Random(seed)
    out = []
    for _ in range(subjects):
        level = rng.uniform(10, 300)
        weekend = rng.choice([0.0, 0.1, 0.3, 0.6])
        sigma = rng.choice([0.1, 0.2, 0.3])
        growth = rng.choice([0.0, 0.0, 0.005, 0.01, 0.015])
        first = START + datetime.timedelta(days=rng.choice([0, 0, 0, 30, 60, 100]))

        def usual(day, level=level, growth=growth, first=first, weekend=weekend) -> float:
            value = level * (1 + growth) ** (day - first).days
            return value * (weekend if day.weekday() >= 5 else 1.0)

        usable = [
            START + datetime.timedelta(days=d)
            for d in range(DAYS)
            if START + datetime.timedelta(days=d) >= first + datetime.timedelta(days=21)
            and usual(START + datetime.timedelta(days=d)) >= 10
        ]
        spikes = set(rng.sample(usable, k=min(len(usable), rng.choice([0, 1, 2, 3, 4]))))
        series = {}
        for d in range(DAYS):
            day = START + datetime.timedelta(days=d)
            if day < first:
                continue
            value = usual(day) * math.exp(rng.gauss(0, sigma))
            if day in spikes:
                value *= rng.uniform(3, 8)
            series[day] = value
        out.append((series, first, spikes, {"weekend": weekend, "sigma": sigma, "growth": growth}))
    return out


def precision_recall(seed: int) -> tuple[float, float, int, int, int]:
    tp = fp = fn = 0
    for series, first, spikes, _params in synthetic(seed):
        flagged = flagged_days(series, first, Thresholds())
        tp += len(flagged & spikes)
        fp += len(flagged - spikes)
        fn += len(spikes - flagged)
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp, fp, fn


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_precision_and_recall_on_synthetic_series(seed):
    precision, recall, tp, fp, fn = precision_recall(seed)
    print(f"seed {seed}: precision {precision:.3f} recall {recall:.3f} (tp {tp} fp {fp} fn {fn})")
    assert tp > 300  # the series hold enough spikes for the figures to mean something
    assert precision >= 0.90
    assert recall >= 0.95


# A fixed eight weeks of one key, labelled by hand: what a person reading the numbers would
# call a spike. The labels are written down, not computed; the detector must agree with them.
# Weekdays cost about USD 20 (18-23), weekends about USD 2 (1.5-2.6).
WEEK_DAYS = [20, 22, 19, 21, 23, 2, 1.5]  # Monday to Sunday
HAND_LABELLED = {
    # (week, weekday): (spend, a spike?)
    (3, 2): (95.0, True),  # Wednesday: ~4.5x a usual Wednesday
    (4, 0): (24.0, False),  # a Monday after a quiet weekend: ordinary
    (4, 5): (40.0, True),  # Saturday: 20x a usual Saturday, USD 38 more
    (5, 1): (29.0, False),  # a busy Tuesday: +30 %, within the usual spread
    (5, 6): (2.6, False),  # a slightly busier Sunday: cents
    (6, 3): (18.0, False),  # a quiet Thursday
    (6, 4): (70.0, True),  # Friday: ~3x, USD 47 more
    (7, 0): (60.0, True),  # Monday: 3x (right after the Friday spike: still its own spike)
    (7, 2): (21.0, False),  # an ordinary Wednesday
}


def test_a_hand_labelled_series_is_judged_as_labelled():
    series = {}
    for week in range(8):
        for weekday, usual in enumerate(WEEK_DAYS):
            day = START + datetime.timedelta(weeks=week, days=weekday)
            spend, _spike = HAND_LABELLED.get((week, weekday), (usual, False))
            series[day] = spend
    expected = {
        START + datetime.timedelta(weeks=w, days=d)
        for (w, d), (_spend, spike) in HAND_LABELLED.items()
        if spike
    }
    assert len(expected) == 4
    assert flagged_days(series, START, Thresholds()) == expected
    # A key that spends cents is not an anomaly, whatever the ratio: 1 cent a day, then 8.
    cents = {START + datetime.timedelta(days=d): 0.01 for d in range(40)}
    cents[START + datetime.timedelta(days=37)] = 0.08
    assert flagged_days(cents, START, Thresholds()) == set()


def test_slow_growth_and_weekends_alone_never_alert():
    t = Thresholds()
    series = {}
    for d in range(120):
        day = START + datetime.timedelta(days=d)
        series[day] = 50 * 1.02**d * (0.05 if day.weekday() >= 5 else 1.0)  # 2 % a day
    assert flagged_days(series, START, t) == set()


def test_new_subject_is_not_judged_in_its_first_days():
    t = Thresholds(min_history_days=14)
    series = {START: 1.0, START + datetime.timedelta(days=3): 500.0}
    assert judge(series, START + datetime.timedelta(days=3), START, t) is None
    late = START + datetime.timedelta(days=20)
    series[late] = 500.0
    verdict = judge(series, late, START, t)
    assert verdict is not None and verdict.anomalous


def test_thresholds_come_from_settings(settings):
    settings.COSTS_ANOMALY = {"ratio": 5, "min_spend": 100, "unknown": 1}
    t = anomalies.thresholds()
    assert t.ratio == 5 and t.min_spend == 100 and t.baseline_days == 28


# --- on stored spend --------------------------------------------------------------------------

DAY = datetime.date(2026, 11, 25)  # a Wednesday


def _history(key="hash-a1", team="team-alpha", user="oid-dev_a", days=40, spend="10"):
    rows = []
    for d in range(1, days + 1):
        day = DAY - datetime.timedelta(days=d)
        if day.weekday() < 5:
            rows.append(row(day=day, key=key, team=team, user=user, spend=spend))
    return rows


@pytest.fixture
def webhook():
    """A chat webhook double: a real HTTP server that keeps the JSON bodies posted to it."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hook", requests=received)
    server.shutdown()


@pytest.mark.django_db
def test_detect_records_once_with_top_model_and_key_and_tells_lead_owner_webhook(
    costs_org, settings, webhook, django_capture_on_commit_callbacks
):
    settings.NOTIFY_WEBHOOK_URL = webhook.url
    mailoutbox = mail.outbox
    upsert_daily(
        _history()
        + _history(key="hash-b1", team="team-beta", user="oid-dev_b")
        + [
            row(day=DAY, key="hash-a1", spend="90", model="gpt-4o"),
            row(day=DAY, key="hash-a1", spend="5", model="gpt-4o-mini"),
            row(day=DAY, key="hash-b1", team="team-beta", user="oid-dev_b", spend="11"),
            # A key first seen three days ago: too new to judge, however much it spends.
            row(day=DAY - datetime.timedelta(days=3), key="hash-new", spend="1"),
            row(day=DAY, key="hash-new", spend="400"),
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        found = anomalies.detect(DAY)
    by_subject = {a.subject: a for a in found}
    dept = by_subject[f"department:{costs_org['a'].pk}"]
    key = by_subject["key:hash-a1"]
    assert set(by_subject) == {f"department:{costs_org['a'].pk}", "key:hash-a1"}
    assert dept.top_model == "gpt-4o-mini" and float(dept.top_model_spend) == 405
    assert dept.top_key_hash == "hash-new" and float(dept.top_key_spend) == 400
    assert float(dept.spend) == 495 and float(dept.baseline) == 10
    assert key.key == costs_org["key_a"] and key.top_model == "gpt-4o"
    assert costs_org["dev_a"].email in key.recipients
    assert costs_org["lead_a"].email in key.recipients
    assert dept.recipients == [costs_org["lead_a"].email]
    assert len(mailoutbox) == 2
    assert len(webhook.requests) == 2
    assert "Spend anomaly on 2026-11-25" in webhook.requests[0]["text"]
    # Once: a second run finds the same and records, mails and posts nothing more.
    assert anomalies.detect(DAY) == []
    assert SpendAnomaly.objects.count() == 2 and len(mailoutbox) == 2


@pytest.mark.django_db
def test_anomaly_list_shows_each_their_own(costs_org, client):
    upsert_daily(
        _history()
        + _history(key="hash-b1", team="team-beta", user="oid-dev_b")
        + [
            row(day=DAY, key="hash-a1", spend="90"),
            row(day=DAY, key="hash-b1", team="team-beta", user="oid-dev_b", spend="90"),
        ]
    )
    anomalies.detect(DAY)
    client.force_login(costs_org["lead_a"])
    html = client.get("/costs/anomalies/").content.decode()
    assert costs_org["a"].name in html and costs_org["b"].name not in html
    client.force_login(costs_org["infra"])
    html = client.get("/costs/anomalies/").content.decode()
    assert costs_org["a"].name in html and costs_org["b"].name in html
