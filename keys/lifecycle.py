"""The request lifecycle shared by virtual keys and tuning projects.

draft → submitted → approved → provisioning → active → expired
            ↘ rejected / cancelled     ↘ failed (retryable)  ↘ revoked
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import audit, crypto
from portal.choices import ChoiceLabels


class Status(models.TextChoices):
    SUBMITTED = "submitted", _("waiting for approval")
    APPROVED = "approved", _("approved")
    PROVISIONING = "provisioning", _("provisioning")
    ACTIVE = "active", _("active")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")
    MANUAL = "manual", _("waiting for infra to fulfil")
    FAILED = "failed", _("failed")
    REVOKED = "revoked", _("revoked")
    EXPIRED = "expired", _("expired")
    # A key whose owner left (directory sync): blocked in LiteLLM; a lead may unblock it.
    SUSPENDED = "suspended", _("suspended: owner left")


OPEN_STATUSES = [
    Status.SUBMITTED,
    Status.APPROVED,
    Status.PROVISIONING,
    Status.MANUAL,
    Status.FAILED,
]
LIVE_STATUSES = [Status.ACTIVE]


class LifecycleQuerySet(models.QuerySet):
    def pending_for(self, user):
        """Requests this user may decide: their departments' (all for infra), never their own."""
        qs = self.filter(status=Status.SUBMITTED).exclude(requester=user)
        if user.is_infra:
            return qs
        # A named approver (the requester's manager) decides alone; else the leads.
        return qs.filter(
            models.Q(approver=user)
            | models.Q(approver__isnull=True, department__in=user.departments_led())
        )

    def visible_to(self, user):
        """Own requests, those of departments the user leads, everything for infra."""
        if user.is_infra:
            return self
        return self.filter(
            models.Q(requester=user)
            | models.Q(approver=user)
            | models.Q(department__in=user.departments_led())
        )


class Request(ChoiceLabels, models.Model):
    """Fields and transitions every approvable, provisioned, expiring thing has."""

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requester"),
    )
    department = models.ForeignKey(
        "tenants.Department",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("department"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED, db_index=True
    )
    justification = models.TextField(_("justification"))
    lifetime_days = models.PositiveIntegerField(_("lifetime (days)"))
    # Set at submit when the department's approver rule names one person (the manager).
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approver"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_comment = models.TextField(_("decision comment"), blank=True)
    auto_approved = models.BooleanField(_("auto-approved"), default=False)
    activated_at = models.DateTimeField(_("active since"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    attempts = models.PositiveIntegerField(_("provisioning attempts"), default=0)
    steps = models.JSONField(_("provisioning steps"), default=dict, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LifecycleQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    # --- permissions -----------------------------------------------------------------
    def can_decide(self, user) -> bool:
        if user.pk == self.requester_id:
            return False  # nobody approves their own request
        if user.is_infra:
            return True
        if self.approver_id:
            return user.pk == self.approver_id
        return user.is_lead_of(self.department)

    def can_view(self, user) -> bool:
        return (
            user.pk == self.requester_id
            or user.is_infra
            or (self.approver_id is not None and user.pk == self.approver_id)
            or user.is_lead_of(self.department)
        )

    # --- transitions -----------------------------------------------------------------
    def _transition(self, new_status: str, *, allowed_from, actor, request=None, **changes) -> None:
        if self.status not in allowed_from:
            raise ValidationError(
                _("This request is %(status)s and cannot be changed that way.")
                % {"status": self.get_status_display()}
            )
        before = audit.snapshot(self)
        self.status = new_status
        for name, value in changes.items():
            setattr(self, name, value)
        self.save()
        audit.record(
            f"{self._meta.model_name}.{new_status}",
            self,
            actor=actor,
            request=request,
            before=before,
            after=audit.snapshot(self),
        )

    def approve(
        self, actor, *, comment: str = "", request=None, auto: bool = False, **lowered
    ) -> None:
        if not auto and not self.can_decide(actor):
            raise PermissionDenied
        self._transition(
            Status.APPROVED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            decided_by=None if auto else actor,
            decided_at=timezone.now(),
            decision_comment=comment,
            auto_approved=auto,
            **lowered,
        )

    def reject(self, actor, *, comment: str, request=None) -> None:
        if not self.can_decide(actor):
            raise PermissionDenied
        if not comment.strip():
            raise ValidationError(_("Say why the request is rejected."))
        self._transition(
            Status.REJECTED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_comment=comment,
            ended_at=timezone.now(),
        )

    def cancel(self, actor, *, request=None) -> None:
        if actor.pk != self.requester_id:
            raise PermissionDenied
        self._transition(
            Status.CANCELLED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            ended_at=timezone.now(),
        )

    def mark_active(self) -> None:
        now = timezone.now()
        self._transition(
            Status.ACTIVE,
            allowed_from=[Status.PROVISIONING],
            actor=None,
            activated_at=now,
            expires_at=now + datetime.timedelta(days=self.lifetime_days),
            last_error="",
        )

    def mark_failed(self, error: str) -> None:
        self._transition(
            Status.FAILED,
            allowed_from=[Status.APPROVED, Status.PROVISIONING],
            actor=None,
            last_error=error[:2000],
        )

    def record_step(self, step: str, result: str) -> None:
        self.steps[step] = {"result": result, "at": timezone.now().isoformat()}
        self.save(update_fields=["steps", "updated_at"])

    # --- hooks each kind of request fills in ------------------------------------------------
    def auto_approvable(self) -> bool:
        """Whether the department's policy approves this request without a lead."""
        return False

    def provisioning_task(self):
        """The Celery task that provisions this kind of request."""
        raise NotImplementedError

    def enqueue_provisioning(self) -> None:
        """Hand the request to a worker once the approval is committed, never before."""
        task = self.provisioning_task()
        transaction.on_commit(lambda: task.delay(self.pk))

    @property
    def kind_label(self) -> str:
        return str(self._meta.verbose_name)

    @property
    def is_pending(self) -> bool:
        return self.status == Status.SUBMITTED

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class OneTimeSecret(models.Model):
    """A secret handed over once: kept Fernet-encrypted until its owner reveals it, then wiped.

    Only the last four characters stay, so people can tell their keys apart.
    """

    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    secret_last4 = models.CharField(_("last 4 characters"), max_length=4, blank=True)
    secret_revealed_at = models.DateTimeField(_("revealed at"), null=True, blank=True)

    class Meta:
        abstract = True

    def store_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_last4 = secret[-4:]
        self.secret_revealed_at = None

    @property
    def secret_waiting(self) -> bool:
        return bool(self.secret_encrypted)

    def take_secret(self) -> str:
        """Decrypt and wipe. The caller saves in the same transaction it shows it."""
        secret = crypto.decrypt(self.secret_encrypted)
        self.secret_encrypted = ""
        self.secret_revealed_at = timezone.now()
        return secret
