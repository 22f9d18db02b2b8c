"""Virtual keys: a LiteLLM key from request to end of life."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from approvals.lifecycle import Request, Status
from approvals.secrets import OneTimeSecret


class VirtualKey(OneTimeSecret, Request):
    class Kind(models.TextChoices):
        PERSONAL = "personal", _("personal key")
        SERVICE = "service", _("service account (team-owned)")

    class BudgetPeriod(models.TextChoices):
        NONE = "", _("whole lifetime")
        DAILY = "1d", _("per day")
        WEEKLY = "7d", _("per week")
        MONTHLY = "30d", _("per month")

    name = models.CharField(
        _("name"), max_length=60, help_text=_("What the key is for, e.g. 'support-bot'.")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PERSONAL)
    llm_models = models.JSONField(_("models"), default=list)
    # Free labels for cost reporting (a project, an application): sent to LiteLLM in the key's
    # metadata tags; the department's cost page shows spend and budgets per tag.
    tags = models.JSONField(_("tags"), default=list, blank=True)
    max_budget = models.DecimalField(_("budget (USD)"), max_digits=10, decimal_places=2)
    budget_duration = models.CharField(
        _("budget period"), max_length=8, choices=BudgetPeriod.choices, default="30d", blank=True
    )
    rpm_limit = models.PositiveIntegerField(_("requests per minute"))
    tpm_limit = models.PositiveIntegerField(_("tokens per minute"))
    extends = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="extensions"
    )

    # Set by provisioning (the secret itself: OneTimeSecret).
    litellm_key_id = models.CharField(
        _("LiteLLM token id"), max_length=128, blank=True, db_index=True
    )
    drift = models.CharField(
        _("drift"), max_length=200, blank=True, help_text=_("What reconcile found out of band.")
    )
    # The same finding as data ({"field", "portal", "litellm"} each), so each reader sees it in
    # their own language; ``drift`` keeps the text in the portal's default language.
    drift_fields = models.JSONField(_("drift fields"), default=list, blank=True)
    # Leavers (directory sync): suspended_at starts the grace period; blocked_at is set once
    # LiteLLM confirmed the block. Suspended but not blocked = marked for blocking, retried.
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("blocked in LiteLLM at"), null=True, blank=True)

    class Meta(Request.Meta):
        verbose_name = _("virtual key")
        verbose_name_plural = _("virtual keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.alias})"

    def get_absolute_url(self) -> str:
        return reverse("key_detail", args=[self.pk])

    @classmethod
    def of_token(cls, token: str) -> VirtualKey | None:
        """The portal key whose LiteLLM token this is, or was before a rotation."""
        if not token:
            return None
        current = cls.objects.filter(litellm_key_id=token).first()
        return current or cls.objects.filter(previous_tokens__token=token).first()

    @property
    def alias(self) -> str:
        """LiteLLM's key_alias: deterministic, so a retry finds the key it made before."""
        return f"portal-{self.pk}-{slugify(self.name)[:40]}" if self.pk else ""

    @property
    def litellm_user_id(self) -> str | None:
        return None if self.kind == self.Kind.SERVICE else self.requester.entra_oid

    def litellm_metadata(self) -> dict:
        dept = self.department
        return {
            "portal_request_id": self.pk,
            "department": dept.slug,
            "cost_centre": dept.cost_centre,
            "requester_email": self.requester.email,
            "managed_by": "genai-portal",
        }

    def litellm_tags(self) -> list[str]:
        dept = self.department
        return [f"department:{dept.slug}", f"cost-centre:{dept.cost_centre}", *self.tags]

    @property
    def is_live(self) -> bool:
        return self.status == Status.ACTIVE

    def can_revoke(self, user) -> bool:
        """Its owner, a lead of its department, or infra."""
        return self.requester_id == user.pk or user.is_infra or user.is_lead_of(self.department)

    def decide_url(self) -> str:
        return reverse("decide_key", args=[self.pk])

    def extend_url(self) -> str:
        """Where the owner asks for more time (the expiry reminder links here)."""
        return reverse("extend_key", args=[self.pk])


class KeyToken(models.Model):
    """A LiteLLM token a key had before a rotation. LiteLLM keeps reporting spend under the
    token that made it (also once that token is deleted), so spend ingestion resolves a token
    to its key through these rows as well as through ``VirtualKey.litellm_key_id``: a
    rotation never moves spend away from its key, owner or department."""

    key = models.ForeignKey(VirtualKey, on_delete=models.CASCADE, related_name="previous_tokens")
    token = models.CharField(_("LiteLLM token id"), max_length=128, unique=True)
    retired_at = models.DateTimeField(_("retired at"), auto_now_add=True)

    class Meta:
        verbose_name = _("previous key token")
        verbose_name_plural = _("previous key tokens")

    def __str__(self) -> str:
        return f"{self.key_id}: …{self.token[-8:]}"


class ReconcileRun(models.Model):
    """One comparison of the portal's keys with LiteLLM's, and what differed."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    teams_checked = models.PositiveIntegerField(default=0)
    keys_checked = models.PositiveIntegerField(default=0)
    # [{"kind": "deleted"|"blocked"|"unknown", "team": ..., "alias": ..., "token": ...}]
    findings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} ({len(self.findings)} findings)"


from .extension_models import KeyExtension  # noqa: E402,F401  (one app, one models module)
