"""Cost dashboards: my spend (developer), department (lead), organisation (infra), and CSVs.

Every page reads rollups only (monthly tables; daily rows of one department or one person
for one month). Every table is paginated or bounded and exports whole as CSV at
``<dashboard>/<table>.csv`` with the same permissions as its page.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from keys.models import VirtualKey
from tenants.access import department_for_lead, infra_required
from tenants.models import Membership

from . import budgets, completeness, forecast, langfuse_costs, periods, soft_budgets
from .forms import BudgetRequestForm, MemberBudgetForm
from .member_budgets import set_member_budget as save_member_budget
from .models import (
    BudgetAlert,
    BudgetRequest,
    DailySpend,
    IngestionState,
    MemberBudget,
    MonthlyKeySpend,
    MonthlySpend,
    MonthlyUserSpend,
    TeamDaySpend,
)
from .soft_budget_views import SoftBudgetForm
from .tables import Column, Table, csv_response, with_percent

ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=8))
TREND_MONTHS = 12


def _sum(field: str, **filter_kwargs):
    flt = Q(**filter_kwargs) if filter_kwargs else None
    return Coalesce(Sum(field, filter=flt), ZERO)


def _metrics():
    return {
        "spend": _sum("spend"),
        "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
        "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
        "requests": Coalesce(Sum("requests"), 0),
    }


def _tokens(row: dict) -> dict:
    row["tokens"] = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
    return row


def _chain(*fns):
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


def _month_context(request) -> dict:
    today = periods.utc_today()
    month = periods.parse_month(request.GET.get("month"))
    return {
        "today": today,
        "month": month,
        "month_value": month.strftime("%Y-%m"),
        "month_end": periods.next_month(month) - datetime.timedelta(days=1),
        "prev_month": periods.add_months(month, -1).strftime("%Y-%m"),
        "next_month": periods.add_months(month, 1).strftime("%Y-%m"),
    }


def _trend(qs, month) -> tuple[list[dict], Decimal]:
    first = periods.add_months(month, -(TREND_MONTHS - 1))
    rows = {
        r["month"]: r
        for r in qs.filter(month__gte=first, month__lte=month)
        .values("month")
        .annotate(spend=_sum("spend"), requests=Coalesce(Sum("requests"), 0))
    }
    series = []
    for i in range(TREND_MONTHS):
        m = periods.add_months(first, i)
        spend = rows.get(m, {}).get("spend") or Decimal(0)
        series.append({"month": m.strftime("%Y-%m"), "spend": float(round(spend, 2))})
    actual = rows.get(month, {}).get("spend") or Decimal(0)
    return series, actual


def _daily_series(qs, month) -> list[dict]:
    days = dict(
        qs.filter(day__gte=month, day__lt=periods.next_month(month))
        .values_list("day")
        .annotate(total=Sum("spend"))
    )
    series, running = [], Decimal(0)
    today = periods.utc_today()
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


def _render(request, template, context, tables: dict[str, Table]):
    for table in tables.values():
        table.paginate(request.GET.get(table.page_param))
    context["tables"] = tables
    context["csv_query"] = f"?month={context['month_value']}"
    if request.headers.get("HX-Request") and request.GET.get("table") in tables:
        return render(
            request, "costs/_table.html", {**context, "table": tables[request.GET["table"]]}
        )
    return render(request, template, context)


def _csv(tables: dict[str, Table], table: str, prefix: str, month: datetime.date):
    if table not in tables:
        raise Http404
    return csv_response(tables[table], f"{prefix}-{table}-{month:%Y-%m}.csv")


# --- index ---------------------------------------------------------------------------------


def index(request):
    if request.user.is_infra:
        return redirect("costs_org")
    led = list(request.user.departments_led().order_by("name").values_list("slug", flat=True))
    if len(led) == 1:
        return redirect("costs_department", led[0])
    if led:
        return render(request, "costs/index.html", {"departments": request.user.departments_led()})
    return redirect("costs_mine")


# --- developer: my spend -------------------------------------------------------------------


def _mine(user) -> Q:
    """Spend on the user's keys or attributed to them. Their keys as a list of ids: PostgreSQL
    then reads the (key, day) and (user, day) indexes, where an OR across a join scans."""
    keys = list(VirtualKey.objects.filter(requester=user).values_list("pk", flat=True))
    return Q(key__in=keys) | Q(user=user)


def _mine_tables(request, ctx) -> dict[str, Table]:
    month = ctx["month"]
    ctx["mine"] = mine = _mine(request.user)
    base = DailySpend.objects.filter(
        mine,
        day__gte=month,
        day__lt=periods.next_month(month),
    )
    ctx["base"] = base
    keys = (
        MonthlyKeySpend.objects.filter(mine, month=month)
        .values(*KEY_FIELDS, **KEY_EXPRESSIONS)
        .order_by("-spend", "key_hash")
    )

    def key_row(row):
        row["name"] = row.get("key__name") or row.get("key_alias") or _("(not a portal key)")
        row["budget"] = row.get("key__max_budget")
        return _tokens(row)

    models = base.values("model", "provider").annotate(**_metrics()).order_by("-spend", "model")
    return {
        "keys": Table(
            "keys",
            _("By key"),
            [
                Column("name", _("Key")),
                *METRIC_COLUMNS,
                Column("budget", _("Key budget (USD)"), "money"),
                Column("budget_period", _("Budget period")),
                Column("pct", _("Budget used"), "pct"),
            ],
            keys,
            decorate=_chain(key_row, with_percent("budget")),
        ),
        "models": Table(
            "models",
            _("By model"),
            [Column("model", _("Model")), Column("provider", _("Provider")), *METRIC_COLUMNS],
            models,
            decorate=_tokens,
        ),
    }


def mine(request, table: str | None = None):
    ctx = _month_context(request)
    tables = _mine_tables(request, ctx)
    if table:
        return _csv(tables, table, "my-spend", ctx["month"])
    base, mine_q = ctx.pop("base"), ctx.pop("mine")
    month = ctx["month"]
    daily = _daily_series(base, month)
    # Summed unrounded: a call worth USD 0.000093 must not read as zero.
    ctx["actual"] = base.aggregate(total=_sum("spend"))["total"]
    previous = MonthlyKeySpend.objects.filter(
        mine_q, month=periods.add_months(month, -1)
    ).aggregate(total=_sum("spend"))["total"]
    _set_forecast(ctx, ctx["actual"], previous)
    ctx["chart"] = {"daily": daily, "budget": None}
    return _render(request, "costs/mine.html", ctx, tables)


def _set_forecast(ctx: dict, actual: Decimal, previous_total: Decimal | None) -> None:
    fc = forecast.month_end(actual, ctx["month"], ctx["today"], previous_total)
    ctx["forecast"] = fc.value
    ctx["forecast_detail"] = fc
    ctx["prior_days"] = forecast.PRIOR_DAYS


# --- lead: one department ------------------------------------------------------------------


def _department_tables(department, ctx) -> dict[str, Table]:
    month = ctx["month"]
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
        return _tokens(row)

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
        return _tokens(row)

    near = keys.filter(key__max_budget__gt=0, spend__gte=F("key__max_budget") * Decimal("0.8"))
    member_cols = [Column("name", _("Member")), *METRIC_COLUMNS]
    key_cols = [
        Column("name", _("Key")),
        Column("key_hash", _("Token (last 8)")),
        Column("owner", _("Owner")),
        *METRIC_COLUMNS,
        Column("budget", _("Key budget (USD)"), "money"),
        Column("budget_period", _("Budget period")),
        Column("pct", _("Budget used"), "pct"),
    ]
    key_decorate = _chain(key_row, with_percent("budget"))
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
            decorate=_chain(member_row, with_percent("budget")),
        ),
        "top": Table("top", _("Top spenders"), member_cols, members, decorate=member_row, limit=5),
        "models": Table(
            "models",
            _("By model"),
            [Column("model", _("Model")), Column("provider", _("Provider")), *METRIC_COLUMNS],
            monthly.values("model", "provider").annotate(**_metrics()).order_by("-spend", "model"),
            decorate=_tokens,
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


def department(request, slug: str, table: str | None = None):
    dept = department_for_lead(request.user, slug)
    ctx = _month_context(request)
    ctx["department"] = dept
    tables = _department_tables(dept, ctx)
    if table:
        return _csv(tables, table, dept.slug, ctx["month"])
    month = ctx["month"]
    trend, actual = _trend(MonthlySpend.objects.filter(department=dept), month)
    daily = _daily_series(TeamDaySpend.objects.filter(department=dept), month)
    budget = dept.monthly_budget
    _set_forecast(ctx, actual, Decimal(str(trend[-2]["spend"])))
    ctx.update(
        actual=actual,
        budget=budget,
        pct=periods.percent(actual, budget),
        remaining=budget - actual if budget else None,
        alerts=list(BudgetAlert.objects.filter(department=dept).select_related("user", "key")[:10]),
        chart={"trend": trend, "daily": daily, "budget": float(budget) if budget else None},
    )
    ctx["forecast_pct"] = (
        periods.percent(ctx["forecast"], budget) if ctx["forecast"] is not None else None
    )
    ctx["langfuse_projects"], ctx["langfuse_outside"] = langfuse_costs.department_month(dept, month)
    ctx["soft_budgets"] = soft_budgets.budget_vs_actual(dept, month)
    ctx["soft_budget_form"] = SoftBudgetForm(department=dept)
    if request.user.is_lead_of(dept):
        ctx["budget_form"] = BudgetRequestForm(initial={"monthly_budget": budget})
        ctx["budget_requests"] = BudgetRequest.objects.filter(department=dept)[:5]
    return _render(request, "costs/department.html", ctx, tables)


def member_budgets(request, slug: str):
    """Members of a department with their optional monthly budgets (lead or infra)."""
    dept = department_for_lead(request.user, slug)
    members = (
        Membership.objects.filter(department=dept)
        .select_related("user")
        .annotate(
            budget=Subquery(
                MemberBudget.objects.filter(department=dept, user=OuterRef("user")).values(
                    "monthly_budget"
                )[:1]
            ),
            enforced=Subquery(
                MemberBudget.objects.filter(department=dept, user=OuterRef("user")).values(
                    "enforced"
                )[:1]
            ),
        )
        .order_by("user__display_name", "user__username")
    )
    page = Paginator(members, 25).get_page(request.GET.get("page"))
    ctx = _month_context(request)
    return render(request, "costs/member_budgets.html", {**ctx, "department": dept, "page": page})


@require_POST
def set_member_budget(request, slug: str):
    """A lead (or infra) sets or clears one member's monthly budget. Audited."""
    dept = department_for_lead(request.user, slug)
    form = MemberBudgetForm(request.POST)
    if not form.is_valid():
        if "member" in form.errors:
            raise Http404
        return HttpResponse(_("Enter an amount in USD."), status=400)
    membership = get_object_or_404(
        Membership.objects.select_related("user"),
        department=dept,
        user_id=form.cleaned_data["member"],
    )
    save_member_budget(
        dept,
        membership.user,
        form.cleaned_data["monthly_budget"],
        enforced=form.cleaned_data["enforced"],
        actor=request.user,
        request=request,
    )
    amount = form.cleaned_data["monthly_budget"]
    if amount:
        messages.success(
            request,
            _("Monthly budget of %(who)s set to USD %(amount)s.")
            % {"who": membership.user, "amount": amount.quantize(Decimal("0.01"))},
        )
    else:
        messages.success(request, _("Budget of %(who)s removed.") % {"who": membership.user})
    url = reverse("costs_member_budgets", args=[dept.slug])
    return redirect(f"{url}?page={form.cleaned_data['page'] or 1}")


# --- infra: the organisation ---------------------------------------------------------------


def _org_tables(ctx) -> dict[str, Table]:
    month = ctx["month"]
    prev = periods.add_months(month, -1)
    same_days: dict | None = None  # department id → last month's spend, same days; read once

    def previous_same_days(department_id):
        nonlocal same_days
        if same_days is None:
            same_days = forecast.previous_to_date(
                TeamDaySpend.objects.all(), month, ctx["today"], group_by="department"
            )
        return same_days.get(department_id) or Decimal(0)

    this = MonthlySpend.objects.filter(month=month)
    departments = (
        MonthlySpend.objects.filter(month__in=[month, prev])
        .values("department", "department__name", "department__cost_centre")
        .annotate(
            # "spend" and friends last: an alias named like a field hides the field after it.
            budget=F("department__monthly_budget"),
            previous=_sum("spend", month=prev),
            unattributed=_sum("unattributed_spend", month=month),
            prompt_tokens=Coalesce(Sum("prompt_tokens", filter=Q(month=month)), 0),
            completion_tokens=Coalesce(Sum("completion_tokens", filter=Q(month=month)), 0),
            requests=Coalesce(Sum("requests", filter=Q(month=month)), 0),
            spend=_sum("spend", month=month),
        )
        .order_by("-spend", "department__name")
    )

    def dept_row(row):
        row["name"] = row.get("department__name") or _("(unmapped LiteLLM teams)")
        row["cost_centre"] = row.get("department__cost_centre") or ""
        # Like for like: the same days of last month, not a whole month against a part.
        row["previous"] = previous_same_days(row.get("department"))
        row["change"] = forecast.change_percent(row["spend"], row["previous"])
        return _tokens(row)

    unattributed = (
        this.filter(Q(unattributed_spend__gt=0) | Q(department__isnull=True))
        .values("team_id", "department__name")
        .annotate(
            unattributed=_sum("unattributed_spend"),
            unmapped=_sum("spend", department__isnull=True),
        )
        .order_by("-unattributed", "team_id")
    )

    def unattributed_row(row):
        row["name"] = row.get("department__name") or _("(no department for this team)")
        row["team_id"] = row.get("team_id") or _("(no team)")
        return row

    return {
        "departments": Table(
            "departments",
            _("By department"),
            [
                Column("name", _("Department")),
                Column("cost_centre", _("Cost centre")),
                *METRIC_COLUMNS,
                Column("budget", _("Budget (USD)"), "money"),
                Column("pct", _("Budget used"), "pct"),
                Column("previous", _("Same days last month (USD)"), "money"),
                Column("change", _("Change (%)"), "pct"),
                Column("unattributed", _("Unattributed (USD)"), "money"),
            ],
            departments,
            decorate=_chain(dept_row, with_percent("budget")),
        ),
        "cost_centres": Table(
            "cost_centres",
            _("By cost centre"),
            [Column("cost_centre", _("Cost centre")), *METRIC_COLUMNS],
            this.values(cost_centre=Coalesce(F("department__cost_centre"), Value("")))
            .annotate(**_metrics())
            .order_by("-spend", "cost_centre"),
            decorate=_tokens,
        ),
        "models": Table(
            "models",
            _("By model"),
            [Column("model", _("Model")), *METRIC_COLUMNS],
            this.values("model").annotate(**_metrics()).order_by("-spend", "model"),
            decorate=_tokens,
        ),
        "providers": Table(
            "providers",
            _("By provider"),
            [Column("provider", _("Provider")), *METRIC_COLUMNS],
            this.values("provider").annotate(**_metrics()).order_by("-spend", "provider"),
            decorate=_tokens,
        ),
        "unattributed": Table(
            "unattributed",
            _("Unattributed spend"),
            [
                Column("team_id", _("LiteLLM team")),
                Column("name", _("Department")),
                Column("unattributed", _("Keys not made by the portal (USD)"), "money"),
                Column("unmapped", _("Team not mapped to a department (USD)"), "money"),
            ],
            unattributed,
            decorate=unattributed_row,
        ),
    }


@infra_required
def org(request, table: str | None = None):
    ctx = _month_context(request)
    tables = _org_tables(ctx)
    if table:
        return _csv(tables, table, "org", ctx["month"])
    trend, actual = _trend(MonthlySpend.objects.all(), ctx["month"])
    _set_forecast(ctx, actual, Decimal(str(trend[-2]["spend"])))
    previous = forecast.previous_to_date(TeamDaySpend.objects.all(), ctx["month"], ctx["today"])
    ctx.update(
        actual=actual,
        previous=previous,
        previous_days=forecast.same_days_last_month(ctx["month"], ctx["today"])[1],
        change=forecast.change_percent(actual, previous),
        has_data=any(point["spend"] for point in trend),
        chart={"trend": trend, "budget": None},
        ingestion=list(IngestionState.objects.all()),
        aggregate_checks=completeness.latest_checks(),
        alerts=list(BudgetAlert.objects.select_related("department", "user", "key")[:10]),
        chargeback_from=periods.add_months(ctx["month"], -2).strftime("%Y-%m"),
    )
    return _render(request, "costs/org.html", ctx, tables)


@infra_required
def chargeback(request):
    """Org-wide chargeback: department × cost centre × month (``?from=YYYY-MM&to=YYYY-MM``)."""
    this_month = periods.month_start(periods.utc_today())
    end = periods.parse_month(request.GET.get("to"), this_month)
    start = periods.parse_month(request.GET.get("from"), periods.add_months(end, -2))
    start = max(min(start, end), periods.add_months(end, -35))
    rows = (
        MonthlySpend.objects.filter(month__gte=start, month__lte=end)
        .values("month", "team_id", "department__name", "department__cost_centre")
        .annotate(**_metrics(), unattributed=_sum("unattributed_spend"))
        .order_by("month", "department__name", "team_id")
    )

    def row(r):
        r["department"] = r.get("department__name") or _("(unmapped team %(team)s)") % {
            "team": r.get("team_id") or "-"
        }
        r["cost_centre"] = r.get("department__cost_centre") or ""
        return _tokens(r)

    table = Table(
        "chargeback",
        _("Chargeback"),
        [
            Column("department", "department"),
            Column("cost_centre", "cost_centre"),
            Column("month", "month", "month"),
            Column("spend", "spend", "money"),
            Column("prompt_tokens", "prompt_tokens", "int"),
            Column("completion_tokens", "completion_tokens", "int"),
            Column("tokens", "tokens", "int"),
            Column("requests", "requests", "int"),
            Column("unattributed", "unattributed_spend", "money"),
        ],
        rows,
        decorate=row,
    )
    return csv_response(table, f"chargeback-{start:%Y-%m}-{end:%Y-%m}.csv")


# --- alerts --------------------------------------------------------------------------------


def alert_list(request):
    alerts = BudgetAlert.objects.select_related("department", "user", "key")
    if not request.user.is_infra:
        alerts = alerts.filter(
            Q(department__in=request.user.departments_led()) | Q(key__requester=request.user)
        )
    page = Paginator(alerts, 25).get_page(request.GET.get("page"))
    return render(request, "costs/alerts.html", {"page": page})


@require_POST
def budget_request(request, slug: str):
    """A lead asks infra for a different monthly budget (same approval workflow as keys)."""
    dept = department_for_lead(request.user, slug)
    if not request.user.is_lead_of(dept):
        raise PermissionDenied  # infra change budgets directly
    form = BudgetRequestForm(request.POST)
    if form.is_valid():
        budgets.request_budget(
            dept,
            lead=request.user,
            monthly_budget=form.cleaned_data["monthly_budget"],
            justification=form.cleaned_data["justification"],
            request=request,
        )
        messages.success(request, _("Budget request sent to the platform team."))
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return redirect("costs_department", slug=dept.slug)
