"""How complete and how usual the numbers are: ingestion state, the daily aggregates'
cross-check against LiteLLM's spend logs, and spend anomalies."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from .spend import SPEND


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
