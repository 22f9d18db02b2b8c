"""The approval engine: stages from a department's policy (which apply, and who approves
them: ``routing``), decisions per stage under the request row's lock, and the hand-over to the
kind's own approve/reject path at the end.

Every entry point that changes a request locks the request row first (``select_for_update``
in the same transaction as the check), so two approvers deciding at once are serialised and
a vote is never counted twice (and the unique constraints on StageDecision say so again).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit
from tenants.models import User

from . import decisions, delegation, notify, registry
from .models import Policy, RequestStage, StageDecision
from .models import StageState as S
from .routing import applicable_rules, fallback_approvers, required_approvals, resolve_approvers

STAGE_APPROVED = audit.action("requeststage.approved")
STAGE_REJECTED = audit.action("requeststage.rejected")
STAGE_STARTED = audit.action("requeststage.started")
STAGE_VOTED = audit.action("requeststage.voted")
STAGE_EXPIRED = audit.action("requeststage.expired")
STAGE_CANCELLED = audit.action("requeststage.cancelled")
STAGE_CLOSED = {
    S.APPROVED: STAGE_APPROVED,
    S.REJECTED: STAGE_REJECTED,
    S.EXPIRED: STAGE_EXPIRED,
    S.CANCELLED: STAGE_CANCELLED,
}


def stages_for(obj) -> models.QuerySet[RequestStage]:
    ct = ContentType.objects.get_for_model(type(obj))
    return RequestStage.objects.filter(content_type=ct, object_id=obj.pk).order_by("position")


def is_staged(obj) -> bool:
    return obj.pk is not None and stages_for(obj).exists()


def current_stage(obj) -> RequestStage | None:
    return stages_for(obj).filter(state=S.ACTIVE).first()


# --- submit ---------------------------------------------------------------------------------
def start(obj) -> bool:
    """Copy the department policy's applicable stages onto a just-submitted request and start
    the first. False when the department has no policy or no stage applies (then the
    department's leads, or the manager, decide alone as before). Runs in the submit's
    transaction."""
    kind = registry.kind_of(obj)
    policy = Policy.objects.filter(department_id=obj.department_id).first()
    if kind is None or policy is None:
        return False
    facts = kind.facts(obj)
    ct = ContentType.objects.get_for_model(type(obj))
    snapshot = policy.snapshot()
    # Each stage keeps the policy's distinct-people rule as it was at submit.
    distinct = {"distinct_approvers": snapshot["distinct_approvers"]}
    rules = [{**r, **distinct} for r in applicable_rules(snapshot["stages"], facts)]
    for position, rule in enumerate(rules, start=1):
        RequestStage.objects.create(
            content_type=ct,
            object_id=obj.pk,
            department_id=obj.department_id,
            position=position,
            name=rule["name"],
            policy_version=policy.version,
            rule=rule,
        )
    if not rules:
        return False
    activate_next(obj)
    return True


def activate_next(obj, *, now=None) -> RequestStage | None:
    stage = stages_for(obj).filter(state=S.WAITING).first()
    if stage is None:
        return None
    approvers = resolve_approvers(obj, stage.rule, earlier_people(stage, obj))
    stage.state = S.ACTIVE
    stage.started_at = now or timezone.now()
    stage.required = required_approvals(stage.rule, len(approvers))
    stage.save(update_fields=["state", "started_at", "required"])
    stage.approvers.set(approvers)
    audit.record(
        STAGE_STARTED,
        obj,
        actor=None,
        after={"stage": stage.name, "approvers": [u.email for u in approvers]},
    )
    notify.stage_started(obj, stage, approvers)
    return stage


# --- who may decide -------------------------------------------------------------------------
def distinct_people(rule: dict) -> bool:
    """Whether stages need distinct people (the policy's rule at submit; on by default)."""
    return rule.get("distinct_approvers", True) is not False


def earlier_people(stage: RequestStage, obj) -> set[int]:
    """Who voted in an earlier stage of ``obj``, and whose vote they cast there (a delegate
    and the approver they stood in for): nobody of them counts in ``stage``. Empty when the
    policy lets one person approve several stages."""
    if not distinct_people(stage.rule):
        return set()
    pairs = StageDecision.objects.filter(
        stage__in=stages_for(obj).filter(position__lt=stage.position)
    ).values_list("actor_id", "counted_for_id")
    return {pk for pair in pairs for pk in pair}


def counted_for(stage: RequestStage, obj, user: User) -> User | None:
    """The approver whose vote ``user`` casts in ``stage`` (themselves, or a delegator who is
    away), or None. Nobody votes on their own request, nor twice in one stage, nor (unless
    the policy allows it) in a stage after one where they voted or their vote was cast."""
    if user.pk == obj.requester_id or not user.is_active:
        return None
    voted = stage.decisions.values_list("actor_id", "counted_for_id")
    if any(user.pk in pair for pair in voted):
        return None
    earlier = earlier_people(stage, obj)
    if user.pk in earlier:
        return None
    counted = {c for _, c in voted}
    approver_ids = current_approver_ids(stage, obj, earlier)
    if user.pk in approver_ids:
        return user
    for delegator in delegation.delegators_of(user):
        free = delegator.pk in approver_ids and delegator.pk not in counted | earlier
        if free and delegator.pk != obj.requester_id:
            return delegator
    return None


def current_approver_ids(stage: RequestStage, obj, earlier: set[int] | None = None) -> set[int]:
    """The stage's approvers (fixed when it started) who still qualify now: a lead who is no
    longer a lead, or someone who left, no longer decides. The escalation's fallback does."""
    earlier = earlier_people(stage, obj) if earlier is None else earlier
    still = {u.pk for u in resolve_approvers(obj, stage.rule, earlier)}
    if stage.escalated_at:
        fallback = fallback_approvers(obj, stage.rule, earlier)
        still |= set(fallback.values_list("pk", flat=True))
    return set(stage.approvers.values_list("pk", flat=True)) & still


def can_decide(obj, user: User) -> bool:
    stage = current_stage(obj)
    return stage is not None and counted_for(stage, obj, user) is not None


def involves(obj, user: User) -> bool:
    """Whether ``user`` approves (or approved) a stage of ``obj``, or may decide it now."""
    if obj.pk is None:
        return False
    return stages_for(obj).filter(approvers=user).exists() or can_decide(obj, user)


# --- decide ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """What a decision was shown for (a chat button, an inbox row): the stage, and the
    version of the department's policy when it was rendered (None: not checked)."""

    stage_id: int
    policy_version: int | None = None


class StaleDecision(ValidationError):
    """A press for a stage that is no longer the current one, or under an older policy."""


def check_shown(obj, stage: RequestStage | None, shown: Shown) -> None:
    """Under the request's lock: a decision counts only for the stage it was shown for, while
    that stage is the current one and the policy it was rendered under is still in force."""
    if stage is None or stage.pk != shown.stage_id:
        raise StaleDecision(
            _("The stage this was shown for is no longer waiting; nothing was counted.")
        )
    now = Policy.version_for(obj.department_id) or 0
    if shown.policy_version is not None and now != shown.policy_version:
        raise StaleDecision(
            _("The approval policy changed after this was shown (version %(then)s, now "
              "%(now)s); nothing was counted. Decide on the portal.")
            % {"then": shown.policy_version, "now": now}
        )  # fmt: skip


def decide(
    obj,
    *,
    actor: User,
    approve: bool,
    comment: str = "",
    request=None,
    via: str = "web",
    lowered: dict | None = None,
    shown: Shown | None = None,
) -> str:
    """One decision on a request, staged or not. Returns what happened: ``"voted"`` (the
    stage needs more approvals), ``"next-stage"``, ``"approved"`` or ``"rejected"``. With
    ``shown``, only while that stage is current (else :class:`StaleDecision`)."""
    kind = registry.kind_of(obj)
    if kind is None:
        raise ValidationError(_("This kind of request cannot be decided here."))
    if not approve and not comment.strip():
        raise ValidationError(_("Say why the request is rejected."))
    with transaction.atomic():
        obj.refresh_from_db(
            from_queryset=type(obj)._default_manager.select_for_update(of=("self",))
        )
        stage = current_stage(obj)
        if shown is not None:
            check_shown(obj, stage, shown)
        if stage is None:  # not staged: the kind's own single decision
            if is_staged(obj) or not obj.is_pending:
                raise ValidationError(_("This request has already been decided."))
            if approve:
                decisions.finish_approval(
                    obj, actor=actor, comment=comment, request=request, **(lowered or {})
                )
                return "approved"
            decisions.finish_rejection(obj, actor=actor, comment=comment, request=request)
            return "rejected"
        if not obj.is_pending:
            raise ValidationError(_("This request has already been decided."))
        voter = counted_for(stage, obj, actor)
        if voter is None:
            raise PermissionDenied(_("You cannot decide this stage."))
        if hasattr(obj, "requester_left") and obj.requester_left():
            raise ValidationError(_("The requester is no longer a member of the department."))
        # The kind's own path checks can_decide on the still-open stage, so it runs before
        # this vote is written; all of it commits or none.
        final = not approve or (
            stage.approvals + 1 >= stage.required
            and not stages_for(obj).filter(state=S.WAITING).exists()
        )
        lowered = {k: v for k, v in (lowered or {}).items() if v is not None}
        if final and approve:
            merged = merged_lowered(obj, lowered)
            decisions.finish_approval(obj, actor=actor, comment=comment, request=request, **merged)
        elif final:
            decisions.finish_rejection(obj, actor=actor, comment=comment, request=request)
        StageDecision.objects.create(
            stage=stage,
            actor=actor,
            counted_for=voter,
            decision=StageDecision.APPROVE if approve else StageDecision.REJECT,
            comment=comment,
            via=via,
            lowered={k: str(v) for k, v in lowered.items()},
        )
        audit.record(
            STAGE_VOTED,
            obj,
            actor=actor,
            request=request,
            after={
                "stage": stage.name,
                "decision": "approve" if approve else "reject",
                "on_behalf_of": voter.email if voter.pk != actor.pk else "",
                "via": via,
                "lowered": {k: str(v) for k, v in lowered.items()},
            },
        )
        if not approve:
            _close(obj, stage, S.REJECTED, actor, request)
            return "rejected"
        if stage.approvals < stage.required:
            return "voted"
        _close(obj, stage, S.APPROVED, actor, request)
        if final:
            return "approved"
        activate_next(obj)
        return "next-stage"


def merged_lowered(obj, lowered: dict) -> dict:
    """What earlier stages' approvers lowered, and this one: the lowest value of each."""
    merged = dict(lowered)
    earlier = StageDecision.objects.filter(
        stage__in=stages_for(obj), decision=StageDecision.APPROVE
    ).values_list("lowered", flat=True)
    for values in earlier:
        for name, raw in (values or {}).items():
            if hasattr(obj, name):
                value = type(getattr(obj, name))(raw)
                merged[name] = min(merged.get(name, value), value)
    # Lowered, never raised: a value at or above what was asked for changes nothing.
    return {k: v for k, v in merged.items() if hasattr(obj, k) and v < getattr(obj, k)}


def _close(obj, stage: RequestStage, state: str, actor, request=None, *, now=None) -> None:
    stage.state = state
    stage.decided_at = now or timezone.now()
    stage.save(update_fields=["state", "decided_at"])
    if state != S.APPROVED:
        stages_for(obj).filter(state=S.WAITING).update(state=S.CANCELLED)
    audit.record(
        STAGE_CLOSED[state], obj, actor=actor, request=request, after={"stage": stage.name}
    )


def close_open_stages(obj, state: str = S.CANCELLED, *, now=None) -> None:
    """The request ended some other way (cancelled, requester left, expired)."""
    for stage in stages_for(obj).filter(state__in=[S.ACTIVE, S.WAITING]):
        _close(obj, stage, state, None, now=now)
