"""Spend rollups from LiteLLM.

``DailySpend`` is the grain LiteLLM aggregates at (day × team × user × key × model × provider,
where ``model`` is the model group callers name: ``costs.model_groups``); the monthly tables
and ``TeamDaySpend`` are kept in step with it by ``costs.ingest`` (moved by the difference
each ingestion makes), so month and year views never scan daily rows. Days are LiteLLM's UTC
days; a month is the calendar month of those days.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

SPEND = {"max_digits": 18, "decimal_places": 8, "default": Decimal("0")}


def resolved(to: str) -> models.ForeignKey:
    """A portal id a spend row was attributed to at ingestion (empty: unattributed).

    No single-column index: every table here has a composite index leading with the column
    where it is looked up by it, and each index more is written for every ingested row. No
    database constraint either: ingestion sets the ids from a join with the portal's tables
    in its own statement, and a constraint would re-check each new row one by one at commit
    (a third of a three-day batch's time). Deleting a department, user or key still empties
    them (on_delete is Django's); a row left pointing at one deleted during an ingestion is
    re-resolved when its day is re-read.
    """
    return models.ForeignKey(
        to,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )


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

    # Looked up through (key, day) and (user, day); by department only within day ranges.
    department = resolved("tenants.Department")
    user = resolved(settings.AUTH_USER_MODEL)
    key = resolved("keys.VirtualKey")
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


# The rollups below are GROUP BYs of DailySpend: their ids are copies of its own.


class MonthlySpend(Metrics):
    """Month × team × model × provider, with the department resolved. Rebuilt from daily rows."""

    month = models.DateField(_("month"), help_text=_("First day of the month."))
    team_id = models.CharField(max_length=128, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    department = resolved("tenants.Department")  # (department, month|day) below leads with it
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
    department = resolved("tenants.Department")  # (department, month|day) below leads with it
    user = resolved(settings.AUTH_USER_MODEL)  # (user, month) below leads with it

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
    department = resolved("tenants.Department")  # (department, month|day) below leads with it
    key = resolved("keys.VirtualKey")  # (key, month) below leads with it
    user = resolved(settings.AUTH_USER_MODEL)  # (user, month) below leads with it

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
            # "My spend": calls made as me through keys I did not request.
            models.Index(fields=["user", "month"], name="costs_mkey_user_month"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.team_id or '-'} {self.key_hash[-8:]} {self.spend}"


class TeamDaySpend(Metrics):
    """Day × team, with the department resolved: the department's daily chart."""

    day = models.DateField(_("day"))
    team_id = models.CharField(max_length=128, blank=True, default="")
    department = resolved("tenants.Department")  # (department, month|day) below leads with it

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "team_id"], name="costs_team_day_natural_key")
        ]
        indexes = [models.Index(fields=["department", "day"], name="costs_teamday_dept_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.team_id or '-'} {self.spend}"
