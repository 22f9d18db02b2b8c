"""The cost dashboards' figures, built once for the pages, their CSVs and the API.

A *table* (``costs.tables.Table``) is one queryset over the rollups, paginated on a page and
exported whole as CSV; the series are the charts' points. ``month_context(request)`` reads the
month asked for (``?month=YYYY-MM``, default this UTC month). Nothing here renders or checks
permissions: the views and the API routers do.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from keys.models import VirtualKey
from portal.days import utc_today

from . import forecast, periods, tags
from .models import (
    DailySpend,
    MemberBudget,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
    SoftBudget,
)
from .tables import Column, LazyRows, Table, with_percent

ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=8))
TREND_MONTHS = 12


def total(field: str, **filter_kwargs):
    """SUM(field) [FILTER (WHERE …)], 0 when there are no rows."""
    flt = Q(**filter_kwargs) if filter_kwargs else None
    return Coalesce(Sum(field, filter=flt), ZERO)


def metrics() -> dict:
    return {
        "spend": total("spend"),
        "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
        "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
        "requests": Coalesce(Sum("requests"), 0),
    }


def by_model(qs):
    """One row per model group (the name callers use; ``costs.model_groups``), with the
    providers it was served by together: a group may route to several."""
    return (
        qs.values("model")
        .annotate(
            providers=StringAgg(
                "provider", ", ", distinct=True, order_by="provider", filter=~Q(provider="")
            ),
            **metrics(),
        )
        .order_by("-spend", "model")
    )


def providers(row: dict) -> dict:
    row["provider"] = row.pop("providers", None)
    return row


def tokens(row: dict) -> dict:
    row["tokens"] = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
    return row


def chain(*fns):
    def run(row):
        for fn in fns:
            row = fn(row)
        return row

    return run


KEY_FIELDS = (
    "key_hash",
    "key",
    "key__name",
    "key_alias",
    "key__max_budget",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "requests",
)
KEY_EXPRESSIONS = {"budget_period": F("key__budget_duration")}

METRIC_COLUMNS = [
    Column("spend", gettext_lazy("Spend (USD)"), "money"),
    Column("tokens", gettext_lazy("Tokens"), "int"),
    Column("requests", gettext_lazy("Requests"), "int"),
]


def month_context(request) -> dict:
    """The month asked for (``?month=YYYY-MM``, default this UTC month) and its neighbours.
    A month after this one raises ``periods.FutureMonth``: nothing is spent in it yet."""
    today = utc_today()
    this_month = periods.month_start(today)
    month = periods.parse_month(request.GET.get("month"))
    if month > this_month:
        raise periods.FutureMonth(month.strftime("%Y-%m"))
    return {
        "today": today,
        "month": month,
        "month_value": month.strftime("%Y-%m"),
        "this_month": this_month.strftime("%Y-%m"),
        "is_this_month": month == this_month,
        "month_end": periods.next_month(month) - datetime.timedelta(days=1),
        "prev_month": periods.add_months(month, -1).strftime("%Y-%m"),
        # No link to a month that has not started.
        "next_month": periods.add_months(month, 1).strftime("%Y-%m") if month < this_month else "",
    }


def trend(qs, month) -> tuple[list[dict], Decimal]:
    """The 12 months up to ``month`` of a MonthlySpend queryset, and ``month``'s spend."""
    first = periods.add_months(month, -(TREND_MONTHS - 1))
    rows = {
        r["month"]: r
        for r in qs.filter(month__gte=first, month__lte=month)
        .values("month")
        .annotate(spend=total("spend"), requests=Coalesce(Sum("requests"), 0))
    }
    series = []
    for i in range(TREND_MONTHS):
        m = periods.add_months(first, i)
        spend = rows.get(m, {}).get("spend") or Decimal(0)
        series.append({"month": m.strftime("%Y-%m"), "spend": float(round(spend, 2))})
    actual = rows.get(month, {}).get("spend") or Decimal(0)
    return series, actual


def daily_series(qs, month) -> list[dict]:
    """Spend per day and cumulative of a queryset with ``day`` and ``spend``, up to today."""
    days = dict(
        qs.filter(day__gte=month, day__lt=periods.next_month(month))
        .values_list("day")
        .annotate(total=Sum("spend"))
    )
    series, running = [], Decimal(0)
    today = utc_today()
    for i in range(periods.days_in_month(month)):
        day = month + datetime.timedelta(days=i)
        running += days.get(day) or Decimal(0)
        future = day > today  # not drawn: the line stops today
        series.append(
            {
                "day": day.isoformat(),
                "spend": None if future else float(round(days.get(day) or 0, 2)),
                "cumulative": None if future else float(round(running, 2)),
            }
        )
    return series


def set_forecast(ctx: dict, actual: Decimal, previous_total: Decimal | None) -> None:
    fc = forecast.month_end(actual, ctx["month"], ctx["today"], previous_total)
    ctx["forecast"] = fc.value
    ctx["forecast_detail"] = fc
    ctx["prior_days"] = forecast.PRIOR_DAYS


# --- developer: my spend -------------------------------------------------------------------


def mine(user) -> Q:
    """Rows of keys I requested, or of calls made as me: two indexed conditions (key ids read
    first, not a join with an OR across tables, which scans the whole table)."""
    keys = getattr(user, "_costs_key_ids", None)  # read once per request's user
    if keys is None:
        keys = list(VirtualKey.objects.filter(requester=user).values_list("pk", flat=True))
        user._costs_key_ids = keys
    return Q(key_id__in=keys) | Q(user=user)


def mine_daily(user, month) -> object:
    """My daily rows of ``month``."""
    return DailySpend.objects.filter(mine(user), day__gte=month, day__lt=periods.next_month(month))


def mine_tables(user, month) -> dict[str, Table]:
    keys = (
        MonthlyKeySpend.objects.filter(mine(user), month=month)
        .values(*KEY_FIELDS, **KEY_EXPRESSIONS)
        .order_by("-spend", "key_hash")
    )

    def key_row(row):
        row["name"] = row.get("key__name") or row.get("key_alias") or _("(not a portal key)")
        row["budget"] = row.get("key__max_budget")
        return tokens(row)

    return {
        "keys": Table(
            "keys",
            _("By key"),
            [
                Column("name", _("Key")),
                *METRIC_COLUMNS,
                Column("budget", _("Key budget (USD)"), "money"),
                Column("budget_period", _("Budget period"), "period"),
                Column("pct", _("Budget used"), "pct"),
            ],
            keys,
            decorate=chain(key_row, with_percent("budget")),
        ),
        "models": Table(
            "models",
            _("By model"),
            [Column("model", _("Model")), Column("provider", _("Provider")), *METRIC_COLUMNS],
            by_model(mine_daily(user, month)),
            decorate=chain(providers, tokens),
        ),
    }


# --- lead: one department ------------------------------------------------------------------


class _SoftBudgets:
    """A department's soft budgets per model and per tag, read once when first asked."""

    def __init__(self, department):
        self.department = department
        self.budgets: dict[tuple[str, str], Decimal] | None = None

    def get(self, scope: str, name: str) -> Decimal | None:
        if self.budgets is None:
            rows = SoftBudget.objects.filter(
                department=self.department, scope__in=["model", "tag"]
            ).values_list("scope", "model", "tag", "monthly_budget")
            self.budgets = {
                (scope_, model if scope_ == "model" else tag): budget
                for scope_, model, tag, budget in rows
            }
        return self.budgets.get((scope, name))


def department_tables(department, month) -> dict[str, Table]:
    monthly = MonthlySpend.objects.filter(department=department, month=month)
    member_budget = MemberBudget.objects.filter(
        department=department, user=OuterRef("user")
    ).values("monthly_budget")[:1]
    # One MonthlyUserSpend row per LiteLLM user and month: no GROUP BY needed.
    members = (
        MonthlyUserSpend.objects.filter(department=department, month=month)
        .values(
            "user",
            "litellm_user_id",
            "user__display_name",
            "user__email",
            "spend",
            "prompt_tokens",
            "completion_tokens",
            "requests",
            budget=Subquery(member_budget),
        )
        .order_by("-spend", "litellm_user_id")
    )

    def member_row(row):
        row["name"] = (
            row.get("user__display_name")
            or row.get("user__email")
            or row.get("litellm_user_id")
            or _("(no user: service keys)")
        )
        return tokens(row)

    # One MonthlyKeySpend row per key and month: no GROUP BY needed.
    keys = (
        MonthlyKeySpend.objects.filter(department=department, month=month)
        .values(*KEY_FIELDS, owner=F("key__requester__display_name"), **KEY_EXPRESSIONS)
        .order_by("-spend", "key_hash")
    )

    def key_row(row):
        row["name"] = row.get("key__name") or row.get("key_alias") or _("(unattributed key)")
        row["budget"] = row.get("key__max_budget")
        row["key_hash"] = (row.get("key_hash") or "")[-8:]
        return tokens(row)

    near = keys.filter(key__max_budget__gt=0, spend__gte=F("key__max_budget") * Decimal("0.8"))
    soft = _SoftBudgets(department)

    def model_row(row):
        row["budget"] = soft.get("model", row.get("model"))
        return tokens(row)

    def tag_row(row):
        row["name"] = row["tag"] or _("(no tag)")
        row["budget"] = soft.get("tag", row["tag"]) if row["tag"] else None
        return tokens(row)

    member_cols = [Column("name", _("Member")), *METRIC_COLUMNS]
    key_cols = [
        Column("name", _("Key")),
        Column("key_hash", _("Token (last 8)")),
        Column("owner", _("Owner")),
        *METRIC_COLUMNS,
        Column("budget", _("Key budget (USD)"), "money"),
        Column("budget_period", _("Budget period"), "period"),
        Column("pct", _("Budget used"), "pct"),
    ]
    key_decorate = chain(key_row, with_percent("budget"))
    budget_cols = [
        Column("budget", _("Soft budget (USD)"), "money"),
        Column("pct", _("Budget used"), "pct"),
    ]
    return {
        "members": Table(
            "members",
            _("By member"),
            [
                *member_cols,
                Column("budget", _("Member budget (USD)"), "money"),
                Column("pct", _("Budget used"), "pct"),
            ],
            members,
            decorate=chain(member_row, with_percent("budget")),
        ),
        "top": Table("top", _("Top spenders"), member_cols, members, decorate=member_row, limit=5),
        "models": Table(
            "models",
            _("By model"),
            [
                Column("model", _("Model")),
                Column("provider", _("Provider")),
                *METRIC_COLUMNS,
                *budget_cols,
            ],
            by_model(monthly),
            decorate=chain(providers, model_row, with_percent("budget")),
        ),
        "tags": Table(
            "tags",
            _("By tag"),
            [Column("name", _("Tag")), *METRIC_COLUMNS, *budget_cols],
            LazyRows(lambda: tags.tag_spend([department.pk], month)),
            decorate=chain(tag_row, with_percent("budget")),
            note=_(
                "Tags are the keys' labels; a key with two tags counts in both, so tags do not "
                "add up to the total. Budgets here are soft budgets (alerts only)."
            ),
        ),
        "keys": Table("keys", _("By key"), key_cols, keys, decorate=key_decorate),
        "near": Table(
            "near",
            _("Keys near their budget (≥ 80 %)"),
            key_cols,
            near,
            decorate=key_decorate,
            note=_("This month's spend against each key's budget."),
            empty=_("No key has used 80 % of its budget in this period."),
        ),
    }


def mine_previous_month(user, month) -> Decimal:
    """My spend in the month before ``month`` (the forecast blends it in)."""
    return MonthlyKeySpend.objects.filter(
        mine(user), month=periods.add_months(month, -1)
    ).aggregate(total=total("spend"))["total"]
