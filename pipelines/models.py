"""Pipeline identities (a kind of request: approved, provisioned in LiteLLM, then trusted) and
the exchanges that trade a CI job's OIDC token for a short-lived LiteLLM key."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import claims
from .requests import LifecycleQuerySet, Request, Status


class PipelineIdentityQuerySet(LifecycleQuerySet):
    def trusting(self, issuer: str):
        """Identities that name ``issuer`` and are not ended (any status that may still matter
        to say why a token is refused)."""
        return self.filter(issuer=issuer).exclude(
            status__in=[Status.REJECTED, Status.CANCELLED, Status.EXPIRED]
        )


class PipelineIdentity(Request):
    """A CI pipeline (a repository and branch, an Azure DevOps pipeline, a cluster's service
    account…) trusted to trade its OIDC token for a short-lived LiteLLM key, without a stored
    secret. ``lifetime_days`` is how long the trust lasts; ``run_lifetime_seconds`` how long
    one run's key lives."""

    name = models.SlugField(_("name"), max_length=60)
    issuer = models.URLField(
        _("issuer"),
        max_length=300,
        db_index=True,
        help_text=_("The token's iss, e.g. https://token.actions.githubusercontent.com."),
    )
    audience = models.CharField(
        _("audience"),
        max_length=300,
        help_text=_("The token's aud the portal accepts, e.g. the portal's URL."),
    )
    claim_rules = models.JSONField(
        _("claim rules"),
        default=dict,
        help_text=_('Claims that must match, e.g. {"repository": "org/app", "ref": '
                    '"refs/heads/main"}; * and ** are wildcards.'),
    )  # fmt: skip
    llm_models = models.JSONField(_("models"), default=list)
    run_budget = models.DecimalField(
        _("budget per run (USD)"), max_digits=10, decimal_places=4, default=Decimal("1")
    )
    run_lifetime_seconds = models.PositiveIntegerField(
        _("key lifetime per run (seconds)"),
        default=3600,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 3600)],
    )
    daily_budget = models.DecimalField(
        _("daily budget (USD, UTC day)"), max_digits=10, decimal_places=4, default=Decimal("10")
    )
    max_live_keys = models.PositiveIntegerField(
        _("live keys at most"), default=5, validators=[MinValueValidator(1)]
    )

    objects = PipelineIdentityQuerySet.as_manager()

    class Meta(Request.Meta):
        verbose_name = _("pipeline identity")
        verbose_name_plural = _("pipeline identities")

    def __str__(self) -> str:
        return self.name

    @property
    def litellm_user_id(self) -> str:
        """The LiteLLM user that owns every key of this identity and carries its daily
        budget."""
        return f"pipeline-{self.pk}"

    @property
    def issuer_kind(self) -> str:
        return claims.issuer_kind(self.issuer)

    def get_issuer_kind_display(self) -> str:
        return str(dict(claims.ISSUER_KINDS).get(self.issuer_kind, self.issuer_kind))

    def get_absolute_url(self) -> str:
        return reverse("pipeline_identity", args=[self.pk])

    def decide_url(self) -> str:
        return reverse("decide_pipeline_identity", args=[self.pk])

    def accepts_audience(self, aud) -> bool:
        audiences = aud if isinstance(aud, list) else [aud]
        return self.audience in audiences

    def trusted_now(self) -> bool:
        return self.status == Status.ACTIVE and (
            self.expires_at is None or self.expires_at > timezone.now()
        )


class ExchangeQuerySet(models.QuerySet):
    def live(self, now: datetime.datetime | None = None):
        """Keys issued that have not expired yet (nor been removed)."""
        return self.filter(
            outcome=PipelineExchange.Outcome.ISSUED,
            key_expires_at__gt=now or timezone.now(),
            key_removed_at__isnull=True,
        )

    def to_sweep(self, now: datetime.datetime | None = None):
        return self.filter(
            outcome=PipelineExchange.Outcome.ISSUED,
            key_expires_at__lte=now or timezone.now(),
            key_removed_at__isnull=True,
        )


class PipelineExchange(models.Model):
    """One token exchange, issued or refused: the audit of a run (never the token)."""

    class Outcome(models.TextChoices):
        ISSUED = "issued", _("key issued")
        MALFORMED = "malformed", _("malformed token")
        UNKNOWN_ISSUER = "unknown-issuer", _("unknown issuer")
        ISSUER_UNAVAILABLE = "issuer-unavailable", _("issuer unreachable")
        BAD_SIGNATURE = "bad-signature", _("bad signature")
        EXPIRED = "expired", _("expired token")
        WRONG_AUDIENCE = "wrong-audience", _("wrong audience")
        CLAIM_MISMATCH = "claim-mismatch", _("claim mismatch")
        REPLAY = "replay", _("token already used")
        IDENTITY_INACTIVE = "identity-inactive", _("identity not active")
        DAILY_BUDGET = "daily-budget", _("daily budget used up")
        TOO_MANY_KEYS = "too-many-keys", _("too many live keys")
        RATE_LIMITED = "rate-limited", _("rate limited")
        UPSTREAM = "upstream", _("LiteLLM failed")

    identity = models.ForeignKey(
        PipelineIdentity,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="exchanges",
    )
    created_at = models.DateTimeField(_("exchanged at"), default=timezone.now, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices)
    detail = models.CharField(_("details"), max_length=300, blank=True)
    issuer = models.CharField(_("issuer"), max_length=300, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    repository = models.CharField(_("repository"), max_length=300, blank=True)
    run_id = models.CharField(_("run"), max_length=64, blank=True)
    sha = models.CharField(_("commit"), max_length=64, blank=True)
    ref = models.CharField(_("ref"), max_length=300, blank=True)
    source_ip = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    key_alias = models.CharField(max_length=120, blank=True)
    key_hash = models.CharField(_("LiteLLM token id"), max_length=128, blank=True)
    key_expires_at = models.DateTimeField(_("key expires at"), null=True, blank=True)
    key_removed_at = models.DateTimeField(_("key removed at"), null=True, blank=True)
    spend = models.DecimalField(
        _("spend (USD)"), max_digits=12, decimal_places=6, null=True, blank=True
    )

    objects = ExchangeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("pipeline exchange")
        verbose_name_plural = _("pipeline exchanges")
        indexes = [
            models.Index(fields=["identity", "-created_at"], name="pipex_identity_recent"),
            models.Index(
                fields=["key_expires_at"],
                name="pipex_to_sweep",
                condition=models.Q(outcome="issued", key_removed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity or self.issuer} {self.run_id or ''} {self.outcome}".strip()

    @property
    def department_id(self) -> int | None:  # the audit log files the event under it
        return self.identity.department_id if self.identity_id else None


class SeenToken(models.Model):
    """A token id (``jti``) already exchanged, kept until the token expires: a replay is
    refused by the unique constraint, so two concurrent uses cannot both pass."""

    issuer = models.CharField(max_length=300)
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="pipelines_seen_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"
