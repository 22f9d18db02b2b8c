"""Spend anomalies: each day, per department and per key, spend against its own baseline.

The baseline of a day is the median spend of the same kind of day (weekday or weekend) over the
``baseline_days`` before it, idle days counting as zero; the spread is the median absolute
deviation (MAD) of those days. A day is anomalous when its spend is at least ``min_spend`` and
above all of: baseline + ``z`` × 1.4826 × MAD, ``ratio`` × baseline, baseline + ``min_delta``.
Medians are robust (one earlier spike does not lift the baseline); same-kind days keep quiet
weekends from making every Monday look like a spike; slow growth moves the median along with it.
Subjects with less than ``min_history_days`` since their first spend are not judged (a new key's
first days have no baseline).

Settings (``COSTS_ANOMALY``, a dict; every entry optional): ``baseline_days`` (28),
``min_history_days`` (14), ``z`` (4), ``ratio`` (2.5), ``min_spend`` (5 USD), ``min_delta``
(5 USD). ``detect(day)`` records one ``SpendAnomaly`` per subject and day (alerting once:
department leads, the key's owner, the infra webhook) with the day's top model and key.
"""

from __future__ import annotations

import datetime
import logging
import statistics
from dataclasses import dataclass, fields
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Min, Sum
from django.utils import translation
from django.utils.translation import gettext as _

from keys.models import VirtualKey
from portal import audit, webhook
from portal.days import utc_today
from tenants import languages
from tenants.models import Membership

from .models import DailySpend, SpendAnomaly, TeamDaySpend

SPEND_ANOMALY = audit.action("costs.spend_anomaly")

log = logging.getLogger(__name__)
MAD_SCALE = 1.4826  # MAD × this estimates a standard deviation for normal noise


@dataclass(frozen=True)
class Thresholds:
    baseline_days: int = 28
    min_history_days: int = 14
    z: float = 4.0
    ratio: float = 2.5
    min_spend: float = 5.0
    min_delta: float = 5.0


def thresholds() -> Thresholds:
    configured = getattr(settings, "COSTS_ANOMALY", {}) or {}
    known = {f.name for f in fields(Thresholds)}
    return Thresholds(**{k: v for k, v in configured.items() if k in known})


@dataclass(frozen=True)
class Verdict:
    anomalous: bool
    baseline: float
    limit: float


def judge(
    history: dict[datetime.date, float],
    day: datetime.date,
    first_day: datetime.date,
    t: Thresholds,
) -> Verdict | None:
    """Whether ``history[day]`` is anomalous; None while the subject is too new to judge."""
    if (day - first_day).days < t.min_history_days:
        return None
    weekend = day.weekday() >= 5
    window = [
        day - datetime.timedelta(days=i)
        for i in range(1, t.baseline_days + 1)
        if day - datetime.timedelta(days=i) >= first_day
    ]
    same = [history.get(d, 0.0) for d in window if (d.weekday() >= 5) == weekend]
    values = same if len(same) >= 4 else [history.get(d, 0.0) for d in window]
    baseline = statistics.median(values)
    mad = statistics.median(abs(v - baseline) for v in values)
    limit = max(baseline + t.z * MAD_SCALE * mad, baseline * t.ratio, baseline + t.min_delta)
    spend = history.get(day, 0.0)
    return Verdict(spend >= t.min_spend and spend > limit, baseline, limit)


def flagged_days(
    series: dict[datetime.date, float], first_day: datetime.date, t: Thresholds | None = None
) -> set[datetime.date]:
    """Every day of ``series`` that ``judge`` flags (for testing on synthetic series)."""
    t = t or thresholds()
    out = set()
    for day in sorted(series):
        verdict = judge(series, day, first_day, t)
        if verdict and verdict.anomalous:
            out.add(day)
    return out


# --- on the stored spend ----------------------------------------------------------------------


@dataclass
class Finding:
    scope: str
    subject: str
    department_id: int | None
    key_hash: str
    spend: float
    verdict: Verdict


def _series(rows) -> dict:
    out: dict = {}
    for subject, day, spend in rows:
        out.setdefault(subject, {})[day] = float(spend)
    return out


def findings(day: datetime.date, t: Thresholds) -> list[Finding]:
    start = day - datetime.timedelta(days=t.baseline_days)
    found = []
    # Departments: the day × team rollup, a few rows per department.
    depts = TeamDaySpend.objects.filter(department__isnull=False)
    today = dict(depts.filter(day=day).values_list("department").annotate(s=Sum("spend")))
    candidates = [d for d, s in today.items() if s >= t.min_spend]
    firsts = dict(
        depts.filter(department__in=candidates).values_list("department").annotate(first=Min("day"))
    )
    history = _series(
        depts.filter(department__in=candidates, day__gte=start, day__lte=day)
        .values_list("department", "day")
        .annotate(s=Sum("spend"))
    )
    for dept_id in candidates:
        verdict = judge(history.get(dept_id, {}), day, firsts[dept_id], t)
        if verdict and verdict.anomalous:
            found.append(
                Finding("department", f"department:{dept_id}", dept_id, "", today[dept_id], verdict)
            )
    # Keys: only keys that spent at least min_spend that day are looked at further.
    daily = DailySpend.objects.exclude(key_hash="")
    today = dict(
        daily.filter(day=day)
        .values_list("key_hash")
        .annotate(s=Sum("spend"))
        .filter(s__gte=t.min_spend)
    )
    if not today:
        return found
    # First spend of each key, within what can matter (older than the window is old enough).
    horizon = day - datetime.timedelta(days=max(t.baseline_days, t.min_history_days))
    firsts = dict(
        daily.filter(key_hash__in=today, day__gte=horizon)
        .values_list("key_hash")
        .annotate(first=Min("day"))
    )
    history = _series(
        daily.filter(key_hash__in=today, day__gte=start, day__lte=day)
        .values_list("key_hash", "day")
        .annotate(s=Sum("spend"))
    )
    key_depts = dict(
        daily.filter(key_hash__in=today, day=day, department__isnull=False).values_list(
            "key_hash", "department"
        )
    )
    for key_hash, spend in today.items():
        verdict = judge(history.get(key_hash, {}), day, firsts.get(key_hash, horizon), t)
        if verdict and verdict.anomalous:
            found.append(
                Finding("key", f"key:{key_hash}", key_depts.get(key_hash), key_hash, spend, verdict)
            )
    return found


def _top(qs, field: str) -> tuple[str, Decimal]:
    top = qs.values(field).annotate(s=Sum("spend")).order_by("-s", field).first()
    return (top[field], top["s"]) if top else ("", Decimal(0))


def detect(day: datetime.date | None = None) -> list[SpendAnomaly]:
    """Record (once) and announce the anomalies of ``day`` (default: yesterday, UTC)."""
    day = day or utc_today() - datetime.timedelta(days=1)
    t = thresholds()
    found = findings(day, t)
    known = set(
        SpendAnomaly.objects.filter(day=day, subject__in=[f.subject for f in found]).values_list(
            "subject", flat=True
        )
    )
    created = []
    for f in found:
        if f.subject in known:
            continue
        of_day = DailySpend.objects.filter(day=day)
        of_day = (
            of_day.filter(department_id=f.department_id)
            if f.scope == "department"
            else of_day.filter(key_hash=f.key_hash)
        )
        top_model, top_model_spend = _top(of_day, "model")
        top_key, top_key_spend = _top(of_day, "key_hash")
        key = VirtualKey.of_token(f.key_hash)
        top_vkey = VirtualKey.of_token(top_key)
        recipients = _recipients(f.department_id, key)
        try:
            with transaction.atomic():
                anomaly = SpendAnomaly.objects.create(
                    scope=f.scope,
                    subject=f.subject,
                    day=day,
                    department_id=f.department_id,
                    key=key,
                    key_hash=f.key_hash,
                    spend=Decimal(str(round(f.spend, 8))),
                    baseline=Decimal(str(round(f.verdict.baseline, 8))),
                    limit=Decimal(str(round(f.verdict.limit, 8))),
                    top_model=top_model,
                    top_model_spend=top_model_spend,
                    top_key_hash=top_key,
                    top_key_name=top_vkey.name if top_vkey else "",
                    top_key_spend=top_key_spend,
                    recipients=recipients,
                )
                audit.record(
                    SPEND_ANOMALY,
                    anomaly,
                    after={"subject": f.subject, "day": day, "spend": anomaly.spend},
                )
                transaction.on_commit(lambda a=anomaly: _announce(a), robust=True)
        except IntegrityError:  # another worker recorded it first
            continue
        created.append(anomaly)
    log.info("spend anomalies", extra={"day": str(day), "new": len(created)})
    return created


def _recipients(department_id: int | None, key: VirtualKey | None) -> list[str]:
    emails = []
    if department_id:
        emails += Membership.objects.filter(
            department_id=department_id, role=Membership.Role.LEAD
        ).values_list("user__email", flat=True)
    if key is not None:
        emails.append(key.requester.email)
    return sorted({e for e in emails if e})


def describe(a: SpendAnomaly) -> str:
    """The anomaly in one sentence, in the active language."""
    if a.scope == "department":
        what = str(a.department)
    else:
        what = _("key %(name)s") % {"name": a.key or a.key_hash[-8:]}
    top = ""
    if a.top_model:
        top = _("; top model %(model)s ($%(spend).2f)") % {
            "model": a.top_model,
            "spend": a.top_model_spend,
        }
    if a.scope == "department" and a.top_key_hash:
        top += _(", top key %(key)s ($%(spend).2f)") % {
            "key": a.top_key_name or a.top_key_hash[-8:],
            "spend": a.top_key_spend,
        }
    return _(
        "Spend anomaly on %(day)s: %(what)s spent $%(spend).2f against a usual $%(baseline).2f "
        "for such a day (alert above $%(limit).2f)%(top)s."
    ) % {
        "day": a.day,
        "what": what,
        "spend": a.spend,
        "baseline": a.baseline,
        "limit": a.limit,
        "top": top,
    }


def _announce(anomaly: SpendAnomaly) -> None:
    """One e-mail per language among the recipients; the webhook in the department's."""
    try:
        for language, group in languages.by_language(anomaly.recipients).items():
            with translation.override(language):
                text = describe(anomaly)
                subject = _("[GenAI Portal] %(text)s") % {"text": text[:120]}
            send_mail(subject, text, None, group)
    except Exception:  # a mail outage must not undo the record
        log.exception("anomaly mail failed", extra={"anomaly": anomaly.pk})
    if settings.NOTIFY_WEBHOOK_URL:
        with translation.override(languages.of_department(anomaly.department)):
            text = describe(anomaly)
        webhook.post(text, about="spend anomaly")
