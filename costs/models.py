"""Spend rollups from LiteLLM, budgets per member, ingestion state and budget alerts.

``DailySpend`` is the grain LiteLLM aggregates at (day × team × user × key × model × provider);
``MonthlySpend`` and ``MonthlyUserSpend`` are rebuilt from it by ``costs.ingest`` for every
(month, team) an ingestion touches, so month and year views never scan daily rows.
Days are LiteLLM's UTC days; a month is the calendar month of those days.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals import engine
from keys.lifecycle import LifecycleQuerySet, Request
from tenants.models import User

SPEND = {"max_digits": 18, "decimal_places": 8, "default": Decimal("0")}


class Metrics(models.Model):
    spend = models.DecimalField(_("spend (USD)"), **SPEND)
    prompt_tokens = models.BigIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.BigIntegerField(_("completion tokens"), default=0)
    requests = models.BigIntegerField(_("requests"), default=0)
    successes = models.BigIntegerField(_("successful requests"), default=0)
    failures = models.BigIntegerField(_("failed requests"), default=0)

    class Meta:
        abstract = True

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class DailySpend(Metrics):
    """One LiteLLM daily aggregate row, with the portal objects it belongs to resolved.

    The natural key is LiteLLM's; the foreign keys are set at ingestion and may stay empty:
    a team the portal does not know, a user without an Entra id, a key made outside the
    portal ("unattributed"). Such rows are kept, never dropped.
    """

    day = models.DateField(_("day"))
    team_id = models.CharField(_("LiteLLM team id"), max_length=128, blank=True, default="")
    litellm_user_id = models.CharField(_("LiteLLM user id"), max_length=128, blank=True, default="")
    key_hash = models.CharField(_("LiteLLM key token"), max_length=128, blank=True, default="")
    model = models.CharField(_("model"), max_length=200, blank=True, default="")
    provider = models.CharField(_("provider"), max_length=64, blank=True, default="")
    key_alias = models.CharField(_("key alias"), max_length=200, blank=True, default="")

    department = models.ForeignKey(
        "tenants.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    key = models.ForeignKey(
        "keys.VirtualKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    NATURAL_KEY = ("day", "team_id", "litellm_user_id", "key_hash", "model", "provider")

    class Meta:
        verbose_name = _("daily spend")
        verbose_name_plural = _("daily spend")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "team_id", "litellm_user_id", "key_hash", "model", "provider"],
                name="costs_daily_natural_key",
            )
        ]
        indexes = [
            # Day ranges use the natural key's unique index (day leads it). Department views
            # read MonthlyKeySpend/TeamDaySpend, so no (department, day) index: fewer to write.
            models.Index(fields=["key", "day"], name="costs_daily_key_day"),
            models.Index(fields=["user", "day"], name="costs_daily_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team_id or '-'} {self.model} {self.spend}"


class MonthlySpend(Metrics):
    """Month × team × model × provider, with the department resolved. Rebuilt from daily rows."""

    month = models.DateField(_("month"), help_text=_("First day of the month."))
    team_id = models.CharField(max_length=128, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    department = models.ForeignKey(
        "tenants.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Spend by keys the portal did not make (key unknown): part of ``spend``.
    unattributed_spend = models.DecimalField(_("unattributed spend (USD)"), **SPEND)

    class Meta:
        verbose_name = _("monthly spend")
        verbose_name_plural = _("monthly spend")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "team_id", "model", "provider"], name="costs_monthly_natural_key"
            )
        ]
        indexes = [
            models.Index(fields=["department", "month"], name="costs_monthly_dept_month"),
            models.Index(fields=["month"], name="costs_monthly_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.team_id or '-'} {self.model} {self.spend}"


class MonthlyUserSpend(Metrics):
    """Month × team × LiteLLM user, with department and user resolved. Rebuilt from daily."""

    month = models.DateField(_("month"))
    team_id = models.CharField(max_length=128, blank=True, default="")
    litellm_user_id = models.CharField(max_length=128, blank=True, default="")
    department = models.ForeignKey(
        "tenants.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "team_id", "litellm_user_id"],
                name="costs_monthly_user_natural_key",
            )
        ]
        indexes = [
            # The lead's member table (a department's month: at most its members, sorted in
            # memory). No metric in an index: ingestion's updates stay heap-only (HOT).
            models.Index(fields=["department", "month"], name="costs_muser_dept_month"),
            models.Index(fields=["user", "month"], name="costs_muser_user_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.team_id or '-'} {self.litellm_user_id} {self.spend}"


class MonthlyKeySpend(Metrics):
    """Month × team × key token, with department, key and user resolved. For the key tables."""

    month = models.DateField(_("month"))
    team_id = models.CharField(max_length=128, blank=True, default="")
    key_hash = models.CharField(max_length=128, blank=True, default="")
    key_alias = models.CharField(max_length=200, blank=True, default="")
    department = models.ForeignKey(
        "tenants.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    key = models.ForeignKey(
        "keys.VirtualKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "team_id", "key_hash"], name="costs_monthly_key_natural_key"
            )
        ]
        indexes = [
            # The lead's key table (a department's month: a few thousand keys at most, sorted
            # in memory). No metric in an index: ingestion's updates stay heap-only (HOT).
            models.Index(fields=["department", "month"], name="costs_mkey_dept_month"),
            models.Index(fields=["key", "month"], name="costs_mkey_key_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.team_id or '-'} {self.key_hash[-8:]} {self.spend}"


class TeamDaySpend(Metrics):
    """Day × team, with the department resolved: the department's daily chart."""

    day = models.DateField(_("day"))
    team_id = models.CharField(max_length=128, blank=True, default="")
    department = models.ForeignKey(
        "tenants.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "team_id"], name="costs_team_day_natural_key")
        ]
        indexes = [models.Index(fields=["department", "day"], name="costs_teamday_dept_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.team_id or '-'} {self.spend}"


class MemberBudget(models.Model):
    """An optional monthly budget for one member of a department (set by a lead or infra)."""

    department = models.ForeignKey(
        "tenants.Department", on_delete=models.CASCADE, related_name="member_budgets"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_budgets"
    )
    monthly_budget = models.DecimalField(_("monthly budget (USD)"), max_digits=12, decimal_places=2)
    # Hard: pushed to LiteLLM as the member's budget in the department's team, which refuses
    # their calls over it. Soft: alerts only.
    enforced = models.BooleanField(_("enforced in LiteLLM"), default=False)
    synced_at = models.DateTimeField(_("pushed to LiteLLM at"), null=True, blank=True)
    sync_error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("member budget")
        verbose_name_plural = _("member budgets")
        constraints = [
            models.UniqueConstraint(fields=["department", "user"], name="one_budget_per_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.department}: {self.monthly_budget}"


class IngestionState(models.Model):
    """Where spend ingestion stands, per source; infra sees it on the org dashboard."""

    source = models.CharField(max_length=64, unique=True, default="litellm")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    window_start = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True)
    rows_upserted = models.PositiveIntegerField(default=0, help_text=_("In the last success."))
    pages_read = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    total_rows_upserted = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("ingestion state")

    def __str__(self) -> str:
        return self.source

    @property
    def healthy(self) -> bool:
        if self.last_success_at is None:
            return False
        return self.last_failure_at is None or self.last_success_at > self.last_failure_at


class BudgetAlert(models.Model):
    """A threshold crossed once in one period for one subject. The unique key makes it fire once."""

    class Scope(models.TextChoices):
        DEPARTMENT = "department", _("department")
        MEMBER = "member", _("member")
        KEY = "key", _("key")
        MODEL = "model", _("model")
        TAG = "tag", _("tag")

    class Kind(models.TextChoices):
        ACTUAL = "actual", _("actual spend")
        FORECAST = "forecast", _("forecast to period end")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    # "department:<id>", "member:<department id>:<user id>", "key:<id>", or a SoftBudget's
    subject = models.CharField(max_length=260)
    period = models.DateField(_("period start"))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACTUAL)
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    department = models.ForeignKey("tenants.Department", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.ForeignKey(
        "keys.VirtualKey", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    spend = models.DecimalField(**SPEND)
    forecast = models.DecimalField(**SPEND)
    budget = models.DecimalField(max_digits=12, decimal_places=2)
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("budget alert")
        verbose_name_plural = _("budget alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "period", "kind", "threshold"], name="alert_once_per_period"
            )
        ]
        indexes = [models.Index(fields=["department", "-created_at"], name="costs_alert_dept")]

    def __str__(self) -> str:
        return f"{self.subject} {self.kind} {self.threshold}% ({self.period:%Y-%m})"

    @property
    def percent(self) -> Decimal:
        value = self.forecast if self.kind == self.Kind.FORECAST else self.spend
        return (value / self.budget * 100).quantize(Decimal("1")) if self.budget else Decimal(0)


class BudgetRequestQuerySet(LifecycleQuerySet):
    def single_decider(self, person) -> models.Q:
        return models.Q() if person.is_infra else models.Q(pk__in=[])  # budgets: infra's call


class BudgetRequest(Request):
    """A lead asks infra for a higher (or lower) monthly budget for their department.

    Same lifecycle as keys: submitted → approved (by infra, never the requester) → a worker
    applies it (the department's budget, and the LiteLLM team's ``max_budget``) → active.
    """

    monthly_budget = models.DecimalField(
        _("new monthly budget (USD)"), max_digits=12, decimal_places=2
    )
    previous_budget = models.DecimalField(
        _("monthly budget when asked (USD)"), max_digits=12, decimal_places=2
    )

    objects = BudgetRequestQuerySet.as_manager()

    class Meta(Request.Meta):
        verbose_name = _("budget request")
        verbose_name_plural = _("budget requests")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.department.name}: USD {self.previous_budget} → {self.monthly_budget}"

    def get_absolute_url(self) -> str:
        return reverse("costs_department", args=[self.department.slug])

    def decide_url(self) -> str:
        return reverse("decide_budget", args=[self.pk])

    def decides_alone(self, user) -> bool:
        return user.is_infra  # without stages, budgets are infra's call

    def deciders(self):
        """Who is told about the request: infra, who decide it (never the requester)."""
        return User.objects.filter(is_infra=True, is_active=True).exclude(pk=self.requester_id)

    def can_view(self, user) -> bool:
        return user.is_infra or user.is_lead_of(self.department) or engine.involves(self, user)


class SpendAnomaly(models.Model):
    """A day whose spend stands out from its subject's own recent baseline (costs.anomalies).

    One row per subject and day (the unique key makes it alert once), with what drove it.
    """

    class Scope(models.TextChoices):
        DEPARTMENT = "department", _("department")
        KEY = "key", _("key")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    subject = models.CharField(max_length=160)  # "department:<id>" or "key:<LiteLLM token>"
    day = models.DateField(_("day"))
    department = models.ForeignKey(
        "tenants.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    key = models.ForeignKey(
        "keys.VirtualKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    key_hash = models.CharField(max_length=128, blank=True)
    spend = models.DecimalField(_("spend (USD)"), **SPEND)
    baseline = models.DecimalField(_("baseline (USD)"), **SPEND)
    limit = models.DecimalField(_("alert above (USD)"), **SPEND)
    top_model = models.CharField(_("top model"), max_length=200, blank=True)
    top_model_spend = models.DecimalField(**SPEND)
    top_key_hash = models.CharField(max_length=128, blank=True)
    top_key_name = models.CharField(_("top key"), max_length=200, blank=True)
    top_key_spend = models.DecimalField(**SPEND)
    recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "-spend"]
        verbose_name = _("spend anomaly")
        verbose_name_plural = _("spend anomalies")
        constraints = [
            models.UniqueConstraint(fields=["subject", "day"], name="anomaly_once_per_day")
        ]
        indexes = [models.Index(fields=["department", "-day"], name="costs_anomaly_dept")]

    def __str__(self) -> str:
        return f"{self.subject} {self.day} {self.spend} (baseline {self.baseline})"

    @property
    def factor(self) -> Decimal | None:
        return (self.spend / self.baseline).quantize(Decimal("0.1")) if self.baseline else None


class AggregateCheck(models.Model):
    """One key × day: the spend ingested from LiteLLM's daily aggregates against the sum of
    its spend logs for that key and day (LiteLLM's daily tables can lose rows under load)."""

    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    day = models.DateField(_("day"))
    key_hash = models.CharField(max_length=128)
    aggregate_spend = models.DecimalField(_("daily aggregates (USD)"), **SPEND)
    logs_spend = models.DecimalField(_("spend logs (USD)"), **SPEND)
    aggregate_requests = models.BigIntegerField(default=0)
    logs_requests = models.BigIntegerField(default=0)
    matches = models.BooleanField(_("matches"))

    class Meta:
        ordering = ["-checked_at", "day", "key_hash"]
        verbose_name = _("aggregate cross-check")

    def __str__(self) -> str:
        return f"{self.day} {self.key_hash[-8:]}: {self.aggregate_spend} vs {self.logs_spend}"


class SoftBudget(models.Model):
    """An alert-only monthly budget (never pushed to LiteLLM) for a department as a whole, one
    of its models, one of its keys' tags, or one of its keys. Hard budgets are the
    department's ``monthly_budget`` (LiteLLM team), a key's ``max_budget`` and enforced member
    budgets."""

    class Scope(models.TextChoices):
        DEPARTMENT = "department", _("department")
        MODEL = "model", _("model")
        TAG = "tag", _("tag")
        KEY = "key", _("key")

    department = models.ForeignKey(
        "tenants.Department", on_delete=models.CASCADE, related_name="soft_budgets"
    )
    scope = models.CharField(max_length=16, choices=Scope.choices)
    model = models.CharField(_("model"), max_length=200, blank=True)
    tag = models.CharField(_("tag"), max_length=40, blank=True)
    key = models.ForeignKey(
        "keys.VirtualKey", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # "soft:department:<dept>", "soft:model:<dept>:<model>", "soft:tag:<dept>:<tag>",
    # "soft:key:<key>"; one per subject.
    subject = models.CharField(max_length=260, unique=True)
    monthly_budget = models.DecimalField(_("monthly budget (USD)"), max_digits=12, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "model"]
        verbose_name = _("soft budget")

    def __str__(self) -> str:
        return f"{self.subject}: {self.monthly_budget}"

    @staticmethod
    def subject_for(department_id: int, scope: str, model: str = "", key_id=None, tag="") -> str:
        if scope == "model":
            return f"soft:model:{department_id}:{model}"
        if scope == "tag":
            return f"soft:tag:{department_id}:{tag}"
        if scope == "key":
            return f"soft:key:{key_id}"
        return f"soft:department:{department_id}"
