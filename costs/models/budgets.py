"""Budgets beside the department's own: per member (soft or enforced in LiteLLM), soft
budgets (alerts only), the alerts they fire, and a lead's request for a different budget."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from approvals import engine
from approvals.lifecycle import LifecycleQuerySet, Request
from tenants.models import User

from .spend import SPEND


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
