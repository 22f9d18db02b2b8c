"""Who people are and where they belong: users (from Entra ID), departments, memberships."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal import context_processors
from portal.model_fields import optional_person


class User(AbstractUser):
    """A person. Signed-in users carry their Entra object id; infra is an org-wide role."""

    entra_oid = models.CharField(
        _("Entra object id"), max_length=64, unique=True, null=True, blank=True
    )
    entra_tenant_id = models.CharField(_("Entra tenant id"), max_length=64, blank=True)
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    # Group object ids from the last sign-in (or directory sync); the source of roles.
    entra_groups = models.JSONField(_("Entra groups"), default=list, blank=True)
    # True when the ID token said "too many groups" (_claim_names); groups come from Graph.
    groups_overage = models.BooleanField(_("group overage"), default=False)
    is_infra = models.BooleanField(
        _("infra"),
        default=False,
        help_text=_("Platform administrator (from the Entra infra group)."),
    )
    # The language messages to this person are written in: set by the language picker and
    # from Entra's ``preferredLanguage``; blank: the portal's default (``LANGUAGE_CODE``).
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)

    class Meta:
        ordering = ["display_name", "username"]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.email or self.username

    def departments_led(self):
        return Department.objects.filter(
            memberships__user=self, memberships__role=Membership.Role.LEAD
        )

    def memberships_once(self) -> list:
        """The memberships with their departments (by department name), read once per user
        object, i.e. once per request, and cached across requests under the navigation's
        version, which every saved membership or department moves (``TenantsConfig``).

        For what pages show (navigation, home panels, list filters); access checks query."""
        memo = getattr(self, "_memberships_once", None)
        if memo is None:
            key = f"memberships:{self.pk}:{context_processors.base_version_for(self)}"
            memo = cache.get(key)
            if memo is None:
                memo = list(
                    self.memberships.select_related("department").order_by("department__name")
                )
                cache.set(key, memo, timeout=settings.NAV_CACHE_SECONDS)
            self._memberships_once = memo
        return memo

    def is_lead_of(self, department: Department) -> bool:
        return self.memberships.filter(department=department, role=Membership.Role.LEAD).exists()

    def is_member_of(self, department: Department) -> bool:
        return self.memberships.filter(department=department).exists()

    @property
    def is_lead(self) -> bool:
        return self.memberships.filter(role=Membership.Role.LEAD).exists()


# The limits a department's policy sets on its keys and projects (the admin's "Policy").
POLICY_LIMIT_FIELDS = [
    "allowed_models",
    "max_key_budget",
    "max_rpm",
    "max_tpm",
    "max_key_lifetime_days",
    "max_project_lifetime_days",
    "auto_approve_max_budget",
    "auto_approve_max_lifetime_days",
]


class Department(models.Model):
    """A department: its Entra groups, cost centre, budget and the policy for its requests."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    cost_centre = models.CharField(_("cost centre"), max_length=64, blank=True)
    member_group_id = models.CharField(
        _("Entra member group id"), max_length=64, blank=True, db_index=True
    )
    lead_group_id = models.CharField(
        _("Entra lead group id"), max_length=64, blank=True, db_index=True
    )
    litellm_team_id = models.CharField(
        _("LiteLLM team id"), max_length=128, blank=True, help_text=_("Set once provisioned.")
    )
    monthly_budget = models.DecimalField(
        _("monthly budget (USD)"), max_digits=12, decimal_places=2, default=Decimal("0")
    )

    # Policy: what a request from this department may ask for.
    allowed_models = models.JSONField(_("allowed models"), default=list, blank=True)
    max_key_budget = models.DecimalField(
        _("max budget per key (USD)"), max_digits=10, decimal_places=2, default=Decimal("100")
    )
    max_rpm = models.PositiveIntegerField(_("max requests per minute"), default=60)
    max_tpm = models.PositiveIntegerField(_("max tokens per minute"), default=100_000)
    max_key_lifetime_days = models.PositiveIntegerField(_("max key lifetime (days)"), default=90)
    max_project_lifetime_days = models.PositiveIntegerField(
        _("max tuning-project lifetime (days)"), default=30
    )
    # Requests at or under both thresholds are approved without a lead. 0 turns it off.
    auto_approve_max_budget = models.DecimalField(
        _("auto-approve up to budget (USD)"), max_digits=10, decimal_places=2, default=Decimal("0")
    )
    auto_approve_max_lifetime_days = models.PositiveIntegerField(
        _("auto-approve up to lifetime (days)"), default=0
    )
    # The language of messages to the department as a whole (its chat webhook); blank: the
    # portal's default.
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)

    class ApproverRule(models.TextChoices):
        LEAD_GROUP = "lead_group", _("the department's leads")
        MANAGER = "manager", _("the requester's manager (Entra ID)")

    # Who decides a request: the leads, or the requester's Entra manager (leads if none).
    approver_rule = models.CharField(
        _("approver"),
        max_length=16,
        choices=ApproverRule.choices,
        default=ApproverRule.LEAD_GROUP,
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("department_detail", args=[self.slug])

    def leads(self):
        return User.objects.filter(
            memberships__department=self, memberships__role=Membership.Role.LEAD
        )

    def auto_approves(self, *, budget: Decimal, lifetime_days: int) -> bool:
        """True when the policy lets a request this small through without a lead."""
        return (
            self.auto_approve_max_budget > 0
            and self.auto_approve_max_lifetime_days > 0
            and budget <= self.auto_approve_max_budget
            and lifetime_days <= self.auto_approve_max_lifetime_days
        )


class Membership(models.Model):
    """A user's role in a department. ``source`` says who owns the row: Entra or infra."""

    class Role(models.TextChoices):
        MEMBER = "member", _("member")
        LEAD = "lead", _("lead")

    class Source(models.TextChoices):
        ENTRA = "entra", _("Entra group")
        MANUAL = "manual", _("set by infra")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.ENTRA
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "department"], name="one_membership_per_department"
            )
        ]
        ordering = ["department__name", "user__display_name"]

    def __str__(self) -> str:
        return f"{self.user} · {self.department} ({self.get_role_display()})"


class SyncRun(models.Model):
    """One directory sync with Microsoft Graph: what it read, what it changed, or why it failed."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        OK = "ok", _("ok")
        FAILED = "failed", _("failed")

    started_at = models.DateTimeField(_("started at"), auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    # Null: the schedule.
    triggered_by = optional_person(_("triggered by"), on_delete=models.SET_NULL)
    # {"users": n, "groups": n, "joiner": n, "leaver": n, ...}
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    # [{"kind": "joiner"|"leaver"|"role_change"|"infra_change"|"disabled"|..., "user": ...,
    #   "email": ..., "department": ..., "detail": ...}]
    changes = models.JSONField(_("changes"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("directory sync")
        verbose_name_plural = _("directory syncs")

    def __str__(self) -> str:
        return f"directory sync {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("directory_run", args=[self.pk])

    @property
    def trigger_label(self) -> str:
        return str(self.triggered_by) if self.triggered_by_id else str(_("schedule"))
