"""The request lifecycle every kind shares (keys, tuning projects, budget requests…).

draft → submitted → approved → provisioning → active → expired
            ↘ rejected / cancelled     ↘ failed (retryable)  ↘ revoked
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models.signals import class_prepared
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import audit
from portal.choices import ChoiceLabels
from portal.model_fields import optional_person, owning_department

from . import delegation, engine, registry, routing, waiting
from .secrets import OneTimeSecret


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
ENDED_STATUSES = [Status.REJECTED, Status.CANCELLED, Status.REVOKED, Status.EXPIRED]

# A request's audit actions: ``<model>.<status>``, and ``<model>.revealed`` for a one-time
# secret; declared for every concrete kind as its class is prepared.
REVEALED = "revealed"


def _declare_actions(sender, **kwargs) -> None:
    verbs = [*Status.values, REVEALED] if issubclass(sender, OneTimeSecret) else Status.values
    for verb in verbs if issubclass(sender, Request) else ():
        audit.action(f"{sender._meta.model_name}.{verb}", where=__name__)


def action_for(obj: models.Model, verb: str) -> str:
    """The declared audit action of ``verb`` (a status, or ``REVEALED``) for this kind."""
    return audit.declared(f"{obj._meta.model_name}.{verb}")


class_prepared.connect(_declare_actions, dispatch_uid="approvals.lifecycle.declare_actions")


class LifecycleQuerySet(models.QuerySet):
    def locked(self, pk):
        """The row, locked for the rest of the transaction (only its own row: joined rows such
        as the department stay unlocked)."""
        return self.select_for_update(of=("self",)).get(pk=pk)

    def pending_for(self, user):
        """Requests waiting for this user's decision, never their own: those whose current
        approval stage lists them (or someone they stand in for today), and, for requests
        without stages, their departments' (all for infra) as before (``approvals.waiting``:
        read through its indexes)."""
        return self.filter(status=Status.SUBMITTED, pk__in=waiting.object_ids(self.model, user))

    def single_decider(self, person) -> models.Q:
        """Requests without stages ``person`` decides: a named approver (the requester's
        manager) alone, else the leads; infra everything. A condition on ``approver`` and
        ``department``, which a request and its ``PendingDecision`` rows both carry."""
        if person.is_infra:
            return models.Q()
        return models.Q(approver=person) | models.Q(
            approver__isnull=True, department__in=waiting.led_department_ids(person)
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
    department = owning_department()
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.SUBMITTED, db_index=True
    )
    justification = models.TextField(_("justification"))
    lifetime_days = models.PositiveIntegerField(_("lifetime (days)"))
    # Set at submit when the department's approver rule names one person (the manager).
    approver = optional_person(_("approver"), on_delete=models.SET_NULL)
    decided_by = optional_person(_("decided by"), on_delete=models.SET_NULL)
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
        if engine.is_staged(self):
            return engine.can_decide(self, user)  # the current stage's approvers
        if self.decides_alone(user):
            return True
        return any(  # standing in for someone away, never for the requester
            self.decides_alone(person)
            for person in delegation.delegators_of(user)
            if person.pk != self.requester_id
        )

    def decides_alone(self, user) -> bool:
        """Who decides a request without stages (the department's policy has none)."""
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
            or engine.involves(self, user)  # an approver of one of its stages, or their delegate
        )

    # --- who may still receive it ------------------------------------------------------
    def requester_left(self) -> bool:
        """True when the requester is deactivated or no longer in the request's department:
        their open requests stop, and nothing is approved, provisioned or revealed for them."""
        requester = self.requester
        return not requester.is_active or not requester.is_member_of(self.department)

    # --- transitions: the only code that writes ``status`` ------------------------------------
    def transition(
        self,
        new_status: str,
        *,
        allowed_from,
        actor,
        request=None,
        check=None,
        **changes,
    ) -> None:
        """Lock the row, re-read it, check, change, audit: all in one transaction.

        ``self`` is refreshed from the locked row first, so the status (and everything else)
        checked is the committed one, never a copy a view or task loaded earlier. ``check``
        (optional) runs on the locked row and raises to refuse. ``self`` carries the result.
        """
        with transaction.atomic():
            self.refresh_from_db(
                from_queryset=type(self)._default_manager.select_for_update(of=("self",))
            )
            if self.status not in allowed_from:
                raise ValidationError(
                    _("This request is %(status)s and cannot be changed that way.")
                    % {"status": self.get_status_display()}
                )
            if check is not None:
                check()
            before = audit.snapshot(self)
            self.status = new_status
            for name, value in changes.items():
                setattr(self, name, value)
            fields = {"status", "updated_at", *changes}
            self.save(update_fields=sorted(fields))
            audit.record(
                action_for(self, new_status),
                self,
                actor=actor,
                request=request,
                before=before,
                after=audit.snapshot(self),
            )

    def _check_decider(self, actor, *, approving: bool):
        """What ``transition`` checks under the lock: ``actor`` decides this request, and nobody
        approves it once the requester has left (rejecting it is still allowed)."""

        def check() -> None:
            if not self.can_decide(actor):
                raise PermissionDenied
            if approving and self.requester_left():
                raise ValidationError(
                    _("The requester is no longer a member of %(department)s.")
                    % {"department": self.department}
                )

        return check

    def approve(
        self, actor, *, comment: str = "", request=None, auto: bool = False, **lowered
    ) -> None:
        self.transition(
            Status.APPROVED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            check=None if auto else self._check_decider(actor, approving=True),
            decided_by=None if auto else actor,
            decided_at=timezone.now(),
            decision_comment=comment,
            auto_approved=auto,
            **lowered,
        )

    def reject(self, actor, *, comment: str, request=None) -> None:
        if not comment.strip():
            raise ValidationError(_("Say why the request is rejected."))
        self.transition(
            Status.REJECTED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            check=self._check_decider(actor, approving=False),
            decided_by=actor,
            decided_at=timezone.now(),
            decision_comment=comment,
            ended_at=timezone.now(),
        )

    def cancel(self, actor, *, request=None) -> None:
        if actor.pk != self.requester_id:
            raise PermissionDenied
        self.transition(
            Status.CANCELLED,
            allowed_from=[Status.SUBMITTED],
            actor=actor,
            request=request,
            ended_at=timezone.now(),
        )
        engine.close_open_stages(self)

    def cancel_for_leaver(self, *, actor=None, reason: str) -> None:
        """The requester left: an open request stops wherever it is (the worker checks the
        status under the same lock before every step, so nothing more reaches LiteLLM)."""
        wipe = {"secret_encrypted": ""} if isinstance(self, OneTimeSecret) else {}
        self.transition(
            Status.CANCELLED,
            allowed_from=OPEN_STATUSES,
            actor=actor,
            ended_at=timezone.now(),
            last_error=reason,
            **wipe,
        )
        engine.close_open_stages(self)

    def expire_pending(self, *, reason: str) -> None:
        """Nobody decided in time (the approval SLA): the request ends unapproved."""
        self.transition(
            Status.EXPIRED,
            allowed_from=[Status.SUBMITTED],
            actor=None,
            ended_at=timezone.now(),
            decision_comment=reason,
        )

    def mark_active(self) -> None:
        now = timezone.now()
        self.transition(
            Status.ACTIVE,
            allowed_from=[Status.PROVISIONING],
            actor=None,
            activated_at=now,
            expires_at=now + datetime.timedelta(days=self.lifetime_days),
            last_error="",
        )

    def mark_failed(self, error: str) -> None:
        self.transition(
            Status.FAILED,
            allowed_from=[Status.APPROVED, Status.PROVISIONING],
            actor=None,
            last_error=error[:2000],
        )

    def start_provisioning(self) -> bool:
        """Claim the request for a provisioning run: approved → provisioning, one more attempt.
        False when there is nothing to provision (decided otherwise, ended, already active).
        A requester who left meanwhile gets the request cancelled instead."""
        with transaction.atomic():
            self.refresh_from_db(
                from_queryset=type(self)._default_manager.select_for_update(of=("self",))
            )
            if self.status not in (Status.APPROVED, Status.PROVISIONING):
                return False
            if self.requester_left():
                self.cancel_for_leaver(reason="requester left the department")
                return False
            if self.status == Status.APPROVED:
                self.transition(Status.PROVISIONING, allowed_from=[Status.APPROVED], actor=None)
            self.attempts += 1
            self.save(update_fields=["attempts", "updated_at"])
            return True

    def record_step(self, step: str, result: str) -> None:
        """Record one provisioning step; merged under the row lock so concurrent runs do not
        overwrite each other's steps."""
        with transaction.atomic():
            steps = (
                type(self)
                ._default_manager.select_for_update(of=("self",))
                .values_list("steps", flat=True)
                .get(pk=self.pk)
            )
            steps = {**(steps or {}), step: {"result": result, "at": timezone.now().isoformat()}}
            type(self)._default_manager.filter(pk=self.pk).update(
                steps=steps, updated_at=timezone.now()
            )
        self.steps = steps

    # --- hooks each kind of request fills in ------------------------------------------------
    def auto_approvable(self) -> bool:
        """Whether the department's policy approves this request without anyone: its
        auto-approval rule, evaluated with the stages' conditions (``routing.auto_approves``)."""
        return routing.auto_approves(self)

    def enqueue_provisioning(self) -> None:
        """Hand the request to a worker once the approval is committed, never before."""
        task = registry.task(self, "provision")
        # robust: with the broker away the approval stands; the stalled-work sweep enqueues it
        transaction.on_commit(lambda: task.delay(self.pk), robust=True)

    def enqueue_cleanup(self) -> None:
        """After an open request was stopped: remove whatever already reached LiteLLM or
        Langfuse (a no-op for kinds that leave nothing behind)."""
        task = registry.task(self, "cleanup")
        if task is not None:  # robust: a lost message is resumed by the kind's sweep
            transaction.on_commit(lambda: task.delay(self.pk), robust=True)

    @property
    def kind_label(self) -> str:
        return str(self._meta.verbose_name)

    @property
    def is_pending(self) -> bool:
        return self.status == Status.SUBMITTED

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
