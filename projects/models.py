"""Langfuse tuning projects: a time-limited project for one developer, and its daily usage.

The tables keep the names they had when the models lived in ``keys`` (``db_table``): the move
changed Django's state only (migrations ``keys.0005`` and ``projects.0001``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import Request
from approvals.secrets import OneTimeSecret
from portal import crypto


class TuningProject(OneTimeSecret, Request):
    """A time-limited Langfuse project for one developer's tuning work.

    The developer's key pair is a OneTimeSecret. The portal keeps a second key pair of its own
    (``portal_*``) to read the project's metrics and to route a virtual key's traces into it;
    both are deleted with the project.
    """

    class Fulfilment(models.TextChoices):
        AUTOMATIC = "automatic", _("automatic (Langfuse admin API)")
        MANUAL = "manual", _("manual (by infra)")

    name = models.CharField(
        _("project name"), max_length=40, help_text=_("Short name, e.g. 'rag-eval'.")
    )
    purpose = models.TextField(_("purpose"))
    retention_days = models.PositiveIntegerField(
        _("retention (days)"), null=True, blank=True, help_text=_("Empty: Langfuse's default.")
    )
    route_key = models.ForeignKey(
        "keys.VirtualKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("route this key's traces here"),
    )
    fulfilment = models.CharField(
        _("fulfilment"), max_length=16, choices=Fulfilment.choices, default=Fulfilment.AUTOMATIC
    )
    langfuse_project_id = models.CharField(_("Langfuse project id"), max_length=128, blank=True)
    # Where the developer's SDK sends traces: the portal's Langfuse, unless infra handed over a
    # project made by hand on another host.
    langfuse_host = models.URLField(_("Langfuse host"), max_length=300, blank=True)
    public_key = models.CharField(_("public key"), max_length=128, blank=True)
    langfuse_api_key_id = models.CharField(max_length=128, blank=True)
    portal_public_key = models.CharField(max_length=128, blank=True)
    portal_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    portal_api_key_id = models.CharField(max_length=128, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    # Set once the project is gone from Langfuse (by the worker, or confirmed by infra).
    torn_down_at = models.DateTimeField(null=True, blank=True)

    class Meta(Request.Meta):
        db_table = "keys_tuningproject"  # moved from keys with its rows (migration 0001)
        verbose_name = _("tuning project")
        verbose_name_plural = _("tuning projects")

    def __str__(self) -> str:
        return self.project_name

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.pk])

    def decide_url(self) -> str:
        return reverse("decide_project", args=[self.pk])

    @property
    def developer_key_note(self) -> str:
        return f"portal request {self.pk}: {self.requester.email}"

    @property
    def portal_key_note(self) -> str:
        return f"portal request {self.pk}: genai-portal (metrics, routing)"

    def portal_secret(self) -> str:
        return crypto.decrypt(self.portal_secret_encrypted) if self.portal_secret_encrypted else ""

    @property
    def sdk_host(self) -> str:
        """The Langfuse the developer's key pair belongs to."""
        return self.langfuse_host or settings.LANGFUSE_HOST

    @property
    def project_name(self) -> str:
        """Langfuse project name: deterministic, so a retry finds the project it made."""
        return f"tuning-{self.pk}-{slugify(self.name)[:40]}" if self.pk else ""


class ProjectMetricsDay(models.Model):
    """One day of a tuning project's usage, pulled from Langfuse's metrics API."""

    project = models.ForeignKey(TuningProject, on_delete=models.CASCADE, related_name="metrics")
    day = models.DateField()
    traces = models.PositiveIntegerField(default=0)
    observations = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        db_table = "keys_projectmetricsday"
        ordering = ["day"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "day"], name="one_metrics_row_per_project_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.day}"
