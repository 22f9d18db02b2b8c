"""Budget alerts: each threshold fires once per period per subject.

Subjects: a department (its ``monthly_budget``; its spend is LiteLLM's plus the tuning
projects' Langfuse cost that LiteLLM has not counted, ``costs.langfuse_costs``), a member
(``MemberBudget``), a key (its ``max_budget`` over its ``budget_duration``). Thresholds:
``COSTS_ALERT_THRESHOLDS`` percent of actual spend (default 80 and 100), plus "forecast over
budget" for monthly subjects, from the forecast the pages show (``costs.forecast.month_end``:
this month's rate blended with last month's, nothing while it is too early to say), so an
alert and a page never disagree.
Department and member alerts e-mail the department's leads; key alerts e-mail the key's
requester; every alert is posted to the infra webhook (``NOTIFY_WEBHOOK_URL``), recorded as a
``BudgetAlert`` and in the audit log.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from approvals.lifecycle import Status
from keys.models import VirtualKey
from portal import audit, webhook
from portal.days import utc_day, utc_today
from tenants import languages
from tenants.models import Department, Membership

from . import forecast, langfuse_costs, periods, soft_budgets
from .models import (
    BudgetAlert,
    DailySpend,
    MemberBudget,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
)

BUDGET_ALERT = audit.action("costs.budget_alert")

log = logging.getLogger(__name__)


def thresholds() -> list[int]:
    return sorted(int(t) for t in getattr(settings, "COSTS_ALERT_THRESHOLDS", (80, 100)))


@dataclass
class Candidate:
    scope: str
    subject: str
    period: datetime.date
    kind: str
    threshold: int
    department_id: int
    spend: Decimal
    fc: forecast.Forecast | None  # None: not a monthly subject
    budget: Decimal
    user_id: int | None = None
    key_id: int | None = None
    langfuse: Decimal = Decimal(0)  # the part of ``spend`` that is Langfuse cost

    @property
    def forecast(self) -> Decimal:
        """What is stored: the forecast's value; 0 when it is too early to say (an alert
        always has spend, so 0 never is a real forecast); the spend when not monthly."""
        if self.fc is None:
            return self.spend
        return self.fc.value if self.fc.value is not None else Decimal(0)

    @property
    def natural_key(self) -> tuple:
        return (self.subject, self.period, self.kind, self.threshold)


def _crossed(scope, subject, period, dept_id, spend, fc, budget, **extra):
    """``fc``: the subject's month-end ``Forecast`` (None for a key budget that is not monthly)."""
    out = []
    for t in thresholds():
        if spend * 100 >= budget * t:
            out.append(
                Candidate(scope, subject, period, "actual", t, dept_id, spend, fc, budget, **extra)
            )
    if fc is not None and fc.value is not None and fc.value > budget and spend < budget:
        out.append(
            Candidate(scope, subject, period, "forecast", 100, dept_id, spend, fc, budget, **extra)
        )
    return out


def month_forecast(spend, today: datetime.date, previous_total) -> forecast.Forecast:
    """This month's forecast for a subject, exactly as the dashboards compute it."""
    return forecast.month_end(spend, periods.month_start(today), today, previous_total)


def _by_month(qs, month, prev, *fields) -> tuple[dict, dict]:
    """{fields: spend} for this month and for last month, in one query."""
    now, before = {}, {}
    for *values, m, total in (
        qs.filter(month__in=[month, prev])
        .values_list(*fields, "month")
        .annotate(t=Sum("spend"))
        .order_by()
    ):
        (now if m == month else before)[values[0] if len(values) == 1 else tuple(values)] = total
    return now, before


def candidates(today: datetime.date) -> list[Candidate]:
    month = periods.month_start(today)
    prev = periods.add_months(month, -1)
    found: list[Candidate] = []

    dept_spend, dept_prev = _by_month(
        MonthlySpend.objects.filter(department__isnull=False), month, prev, "department"
    )
    # LiteLLM's spend plus the tuning projects' Langfuse cost LiteLLM has not counted.
    langfuse = langfuse_costs.by_department_month(prev, periods.next_month(month))
    for dept_id, budget in Department.objects.filter(monthly_budget__gt=0).values_list(
        "pk", "monthly_budget"
    ):
        from_langfuse = Decimal(langfuse.get((dept_id, month), 0))
        spend = (dept_spend.get(dept_id) or Decimal(0)) + from_langfuse
        before = dept_prev.get(dept_id)
        if (dept_id, prev) in langfuse:
            before = (before or Decimal(0)) + langfuse[(dept_id, prev)]
        fc = month_forecast(spend, today, before)
        found += _crossed(
            "department", f"department:{dept_id}", month, dept_id, spend, fc, budget,
            langfuse=from_langfuse,
        )  # fmt: skip

    member_spend, member_prev = _by_month(
        MonthlyUserSpend.objects.filter(user__isnull=False), month, prev, "department", "user"
    )
    for dept_id, user_id, budget in MemberBudget.objects.filter(monthly_budget__gt=0).values_list(
        "department", "user", "monthly_budget"
    ):
        spend = member_spend.get((dept_id, user_id)) or Decimal(0)
        fc = month_forecast(spend, today, member_prev.get((dept_id, user_id)))
        subject = f"member:{dept_id}:{user_id}"
        found += _crossed("member", subject, month, dept_id, spend, fc, budget, user_id=user_id)

    keys = list(
        VirtualKey.objects.filter(status=Status.ACTIVE, max_budget__gt=0).values_list(
            "pk", "department", "requester", "max_budget", "budget_duration", "created_at"
        )
    )
    if keys:
        starts = {
            pk: periods.key_period_start(duration or "", today, utc_day(created))
            for pk, _d, _r, _b, duration, created in keys
        }
        per_day = (
            DailySpend.objects.filter(key__in=starts, day__gte=min(starts.values()))
            .values_list("key", "day")
            .annotate(total=Sum("spend"))
        )
        key_spend: dict[int, Decimal] = {}
        for key_id, day, total in per_day:
            if day >= starts[key_id]:
                key_spend[key_id] = key_spend.get(key_id, Decimal(0)) + total
        key_prev = dict(
            MonthlyKeySpend.objects.filter(
                month=prev, key__in=[k[0] for k in keys if k[4] == "30d"]
            )
            .values_list("key")
            .annotate(total=Sum("spend"))
        )
        for pk, dept_id, requester, budget, duration, _created in keys:
            spend = key_spend.get(pk, Decimal(0))
            fc = month_forecast(spend, today, key_prev.get(pk)) if duration == "30d" else None
            found += _crossed(
                "key",
                f"key:{pk}",
                starts[pk],
                dept_id,
                spend,
                fc,
                budget,
                key_id=pk,
                user_id=requester,
            )
    found += soft_budgets.candidates(today, _crossed, month_forecast)  # alert-only budgets
    return found


def evaluate(today: datetime.date | None = None) -> list[BudgetAlert]:
    """Record and send every alert crossed and not yet fired; return the new ones."""
    today = today or utc_today()
    found = candidates(today)
    if not found:
        return []
    existing = set(
        BudgetAlert.objects.filter(
            subject__in={c.subject for c in found}, period__in={c.period for c in found}
        ).values_list("subject", "period", "kind", "threshold")
    )
    new = [c for c in found if c.natural_key not in existing]
    if not new:
        return []
    leads = _lead_emails({c.department_id for c in new})
    requesters = dict(
        VirtualKey.objects.filter(pk__in={c.key_id for c in new if c.key_id}).values_list(
            "pk", "requester__email"
        )
    )
    fired = []
    for c in new:
        recipients = (
            [requesters.get(c.key_id, "")] if c.scope == "key" else leads.get(c.department_id, [])
        )
        recipients = [r for r in recipients if r]
        try:
            with transaction.atomic():
                alert = BudgetAlert.objects.create(
                    scope=c.scope,
                    subject=c.subject,
                    period=c.period,
                    kind=c.kind,
                    threshold=c.threshold,
                    department_id=c.department_id,
                    user_id=c.user_id,
                    key_id=c.key_id,
                    spend=c.spend,
                    forecast=c.forecast,
                    budget=c.budget,
                    recipients=recipients,
                )
                audit.record(
                    BUDGET_ALERT,
                    alert,
                    after={
                        "subject": c.subject,
                        "kind": c.kind,
                        "threshold": c.threshold,
                        "spend": c.spend,
                        "forecast": c.fc.value if c.fc else None,
                        "forecast_low": c.fc.low if c.fc else None,
                        "forecast_high": c.fc.high if c.fc else None,
                        "budget": c.budget,
                        "period": c.period,
                        "langfuse": c.langfuse,
                    },
                )
                _notify_on_commit(alert, recipients, c.fc, c.langfuse)
        except IntegrityError:  # another worker fired it first
            continue
        fired.append(alert)
    log.info("budget alerts fired", extra={"count": len(fired)})
    return fired


def _lead_emails(department_ids: set[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for dept_id, email in Membership.objects.filter(
        department__in=department_ids, role=Membership.Role.LEAD
    ).values_list("department", "user__email"):
        out.setdefault(dept_id, []).append(email)
    return out


def describe(alert: BudgetAlert, fc: forecast.Forecast | None = None, langfuse=None) -> str:
    """The alert in one sentence, in the active language; ``fc`` (when known) adds the
    forecast's range, ``langfuse`` (when above 0) how much of the spend is Langfuse cost."""
    name = alert.subject.split(":", 3)[-1]  # "soft:model:<dept>:<model>": names may hold ":"
    what = {
        "department": lambda: str(alert.department),
        "member": lambda: f"{alert.user} ({alert.department})",
        "key": lambda: f"{alert.key} ({alert.department})",
        "model": lambda: _("model %(name)s (%(dept)s)") % {"name": name, "dept": alert.department},
        "tag": lambda: _("tag %(name)s (%(dept)s)") % {"name": name, "dept": alert.department},
    }[alert.scope]()
    if alert.subject.startswith("soft:"):
        what = _("%(what)s (soft budget)") % {"what": what}
    if alert.kind == BudgetAlert.Kind.FORECAST:
        span = ""
        if fc is not None and fc.is_range:
            span = _(" (between $%(low).2f and $%(high).2f)") % {"low": fc.low, "high": fc.high}
        text = _(
            "Budget forecast: %(what)s is on course for $%(forecast).2f%(span)s this month, "
            "over its budget of $%(budget).2f (spent $%(spend).2f so far)."
        ) % {
            "what": what,
            "forecast": alert.forecast,
            "span": span,
            "budget": alert.budget,
            "spend": alert.spend,
        }
    else:
        text = _(
            "Budget alert: %(what)s has spent $%(spend).2f, %(threshold)s%% or more of its "
            "budget of $%(budget).2f."
        ) % {
            "what": what,
            "spend": alert.spend,
            "threshold": alert.threshold,
            "budget": alert.budget,
        }
    if langfuse:
        text += " " + _(
            "$%(langfuse).2f of the spend is tuning projects' cost reported by Langfuse "
            "(the rest is LiteLLM's)."
        ) % {"langfuse": langfuse}
    return text


def _notify_on_commit(alert: BudgetAlert, recipients: list[str], fc=None, langfuse=None) -> None:
    """After the commit: one e-mail per language among the recipients, each written in it;
    the webhook in the department's language."""

    def send():
        try:
            for language, group in languages.by_language(recipients).items():
                with translation.override(language):
                    text = describe(alert, fc, langfuse)
                    context = {"alert": alert, "text": text, "site_url": settings.SITE_URL}
                    subject = render_to_string("costs/email/alert_subject.txt", context).strip()
                    body = render_to_string("costs/email/alert.txt", context)
                send_mail(subject, body, None, group, fail_silently=False)
        except Exception:  # a mail outage must not undo the alert
            log.exception("alert mail failed", extra={"alert": alert.pk})
        if settings.NOTIFY_WEBHOOK_URL:
            with translation.override(languages.of_department(alert.department)):
                text = describe(alert, fc, langfuse)
            webhook.post(text, about="budget alert")

    transaction.on_commit(send, robust=True)
