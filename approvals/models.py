"""Approval policies (per department, versioned), the stages of each request, the decisions
taken in them, and delegations. Requests are referred to generically (content type + pk)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.model_fields import optional_person

from .model_bases import AboutRequest, zero_is_never
from .review_models import ReviewCampaign, ReviewItem  # noqa: F401  (one models module)

USER = settings.AUTH_USER_MODEL


class ApproverKind(models.TextChoices):
    MANAGER = "manager", _("the requester's manager")
    LEADS = "leads", _("the department's leads")
    INFRA = "infra", _("infra")
    GROUP = "group", _("members of an Entra group")
    PERSON = "person", _("a named person")


class Quorum(models.TextChoices):
    ANY = "any", _("any one")
    ALL = "all", _("all of them")
    N = "n", _("a number of them")


class Condition(models.TextChoices):
    ALWAYS = "always", _("always")
    BUDGET_ABOVE = "budget_above", _("budget above a threshold")
    PREMIUM_MODEL = "premium_model", _("a model in the premium set")
    RETENTION_ABOVE = "retention_above", _("tuning project retention above N days")
    SERVICE_ACCOUNT = "service_account", _("a service-account key")


class Policy(models.Model):
    """A department's approval policy: ordered stages. Auto-approval (the department's
    thresholds) is its first rule and never skips a conditional stage; without a policy the
    leads (or manager) decide."""

    department = models.OneToOneField(
        "tenants.Department",
        on_delete=models.CASCADE,
        related_name="approval_policy",
        verbose_name=_("department"),
    )
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    # Off only by an explicit, audited choice: then one person may approve several stages.
    distinct_approvers = models.BooleanField(
        _("distinct people in each stage"),
        default=True,
        help_text=_(
            "Someone who voted in an earlier stage of a request, or stood in for someone "
            "there, is not counted in a later stage."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")

    def __str__(self) -> str:
        return f"{self.department} v{self.version}"

    @classmethod
    def version_for(cls, department_id: int) -> int | None:
        """The version of the department's policy in force now (None: it has none)."""
        return (
            cls.objects.filter(department_id=department_id)
            .values_list("version", flat=True)
            .first()
        )

    def snapshot(self) -> dict:
        return {
            "version": self.version,
            "distinct_approvers": self.distinct_approvers,
            "stages": [s.rule() for s in self.stages.order_by("position", "pk")],
        }


class PolicyStage(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField(_("order"), default=1)
    name = models.CharField(_("name"), max_length=80)
    approver = models.CharField(_("approvers"), max_length=16, choices=ApproverKind.choices)
    group_id = models.CharField(_("Entra group id"), max_length=64, blank=True)
    person = optional_person(_("person"))
    quorum = models.CharField(_("quorum"), max_length=8, choices=Quorum.choices, default="any")
    quorum_n = models.PositiveIntegerField(_("how many (quorum N)"), default=1)
    condition = models.CharField(
        _("applies when"), max_length=20, choices=Condition.choices, default="always"
    )
    threshold = models.DecimalField(
        _("threshold (USD or days)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    premium_models = models.JSONField(_("premium models"), default=list, blank=True)
    reminder_hours = zero_is_never(_("remind after (working hours)"))
    escalate_hours = zero_is_never(_("escalate after (working hours)"))
    fallback = optional_person(_("fallback approver"), help_text=_("Empty: infra."))
    expire_days = zero_is_never(_("expire request after (working days)"))

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    def rule(self) -> dict:
        """What a request copies at submit: later policy edits do not move requests in flight."""
        return {
            "name": self.name,
            "approver": self.approver,
            "group_id": self.group_id,
            "person_id": self.person_id,
            "quorum": self.quorum,
            "quorum_n": self.quorum_n,
            "condition": self.condition,
            "threshold": str(self.threshold) if self.threshold is not None else None,
            "premium_models": list(self.premium_models or []),
            "reminder_hours": self.reminder_hours,
            "escalate_hours": self.escalate_hours,
            "fallback_id": self.fallback_id,
            "expire_days": self.expire_days,
        }


class PolicyVersion(models.Model):
    """Every saved state of a policy, for auditors and for requests that cite a version."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    snapshot = models.JSONField(_("stages"))
    distinct_approvers = models.BooleanField(_("distinct people in each stage"), default=True)
    changed_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("changed by")
    )
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="one_row_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.version}"


class StageState(models.TextChoices):
    WAITING = "waiting", _("not started")
    ACTIVE = "active", _("waiting for a decision")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")
    CANCELLED = "cancelled", _("not needed")


class RequestStage(AboutRequest):
    """One stage of one request, copied from the policy at submit."""

    request = GenericForeignKey("content_type", "object_id")
    position = models.PositiveIntegerField()
    name = models.CharField(_("stage"), max_length=80)
    policy_version = models.PositiveIntegerField(_("policy version"))
    rule = models.JSONField()
    state = models.CharField(
        _("state"), max_length=12, choices=StageState.choices, default=StageState.WAITING
    )
    required = models.PositiveIntegerField(_("approvals needed"), default=1)
    approvers = models.ManyToManyField(USER, related_name="approval_stages", blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        indexes = [
            models.Index(fields=["content_type", "object_id"]),
            models.Index(fields=["state", "started_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "position"], name="one_stage_per_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_state_display()})"

    @property
    def approvals(self) -> int:
        return sum(1 for d in self.decisions.all() if d.decision == StageDecision.APPROVE)


class StageDecision(models.Model):
    """One person's decision in one stage. ``counted_for`` is the approver whose vote this
    is (the delegator when a delegate decides): one vote per approver per stage."""

    APPROVE, REJECT = "approve", "reject"
    DECISIONS = [(APPROVE, _("approve")), (REJECT, _("reject"))]

    stage = models.ForeignKey(RequestStage, on_delete=models.CASCADE, related_name="decisions")
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    counted_for = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=DECISIONS)
    comment = models.TextField(blank=True)
    via = models.CharField(max_length=8, default="web")  # web, bulk, slack, api
    # What this approver lowered (budget, limits, lifetime); applied at the final approval.
    lowered = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["stage", "counted_for"], name="one_vote_per_approver"),
            models.UniqueConstraint(fields=["stage", "actor"], name="one_vote_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.decision} ({self.stage})"


class PendingDecision(AboutRequest):
    """What waits for whose decision, kept beside the requests so that a queue and its count
    read a handful of index entries, whatever the number of open requests (``waiting``).

    One row per approver of a submitted request's active stage who has not voted there
    (``decider``; nobody votes twice, and a delegate's vote counts for the approver), or one
    row with no ``decider`` for a submitted request without stages: its deciders are worked
    out when asked (the kind's ``single_decider`` over ``approver`` and ``department``,
    which these rows carry under the request's own names). Rewritten by ``waiting.sync``
    in the transaction of every change to the request, its stages, their approvers or votes.
    """

    requester = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+", db_index=False)
    approver = optional_person(_("approver"), on_delete=models.CASCADE, db_index=False)
    decider = optional_person(_("decider"), on_delete=models.CASCADE, db_index=False)
    stage = models.ForeignKey(
        RequestStage, on_delete=models.CASCADE, null=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField()  # the request's, for the queue's order

    class Meta:
        constraints = [
            # One row per request and decider (and one without): a count needs no DISTINCT.
            models.UniqueConstraint(
                fields=["content_type", "object_id", "decider"],
                nulls_distinct=False,
                name="pending_once_per_decider",
            )
        ]
        indexes = [
            models.Index(fields=["decider", "created_at"], name="pending_decider"),
            models.Index(fields=["stage"], name="pending_stage"),
            # Requests without stages: every one of a kind (infra), a department's (its
            # leads), a named approver's.
            models.Index(
                fields=["content_type", "created_at"],
                condition=models.Q(decider__isnull=True),
                name="pending_unstaged",
            ),
            models.Index(
                fields=["department", "created_at"],
                condition=models.Q(decider__isnull=True),
                name="pending_unstaged_department",
            ),
            models.Index(
                fields=["approver"],
                condition=models.Q(decider__isnull=True),
                name="pending_unstaged_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id} → {self.decider_id or 'deciders'}"


class Delegation(models.Model):
    """While ``delegator`` is away (``starts_on``..``ends_on``, portal time zone),
    ``delegate`` sees and decides what waits for them. Not transitive."""

    delegator = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="delegations_out")
    delegate = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="delegations_in")
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_on"]
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate} ({self.starts_on}–{self.ends_on})"


class ChatAccount(models.Model):
    """A portal user's Slack user id, so a button press is decided as that person."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="chat_account")
    slack_user_id = models.CharField(_("Slack user id"), max_length=32, unique=True)

    class Meta:
        verbose_name = _("chat account")
        verbose_name_plural = _("chat accounts")

    def __str__(self) -> str:
        return f"{self.user} ({self.slack_user_id})"


class ChatInteraction(models.Model):
    """A chat interaction already received (Slack's signature over its exact bytes), kept
    while the signature is still accepted, so a replay of the same signed request is known
    and decides nothing. Rows past ``expires_at`` no longer matter and are swept."""

    signature = models.CharField(max_length=100, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.signature

    @classmethod
    def first_time(cls, signature: str, expires_at) -> bool:
        """Record the interaction; False when it was received before (a replay). Two copies
        arriving at once: the unique index lets one through."""
        cls.objects.filter(expires_at__lt=timezone.now()).delete()
        try:
            with transaction.atomic():
                cls.objects.create(signature=signature, expires_at=expires_at)
        except IntegrityError:
            return False
        return True
