"""Out-of-office delegation: while an approver is away, their delegate decides for them.

Rules, checked when a delegation is created and again at every decision:
- never to oneself, nor to someone inactive;
- no chains: the delegate must not be away themselves (delegating onward) in that range, and
  someone who is covering for another may not hand that on; so a delegation is one hop and
  never transitive;
- nobody decides their own request, whoever they decide for (``engine.counted_for``).
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import audit
from portal.days import local_today
from tenants.models import User

from .models import Delegation

CREATED = audit.action("delegation.created")
ENDED = audit.action("delegation.ended")
USED = audit.action("delegation.used")  # a request without stages decided by a delegate


def active(today: datetime.date | None = None):
    today = today or local_today()
    return Delegation.objects.filter(
        ended_at__isnull=True, starts_on__lte=today, ends_on__gte=today
    )


# Bumped whenever a delegation starts or ends in this process: ``delegators_of`` remembers its
# answer on the user object (one page asks it for every kind of request) until then.
_generation = [0]


def _changed() -> None:
    _generation[0] += 1
    transaction.on_commit(lambda: _generation.__setitem__(0, _generation[0] + 1))


def delegators_of(user: User, today: datetime.date | None = None) -> list[User]:
    """People ``user`` decides for today (portal time zone)."""
    key = (today or local_today(), _generation[0])
    memo = getattr(user, "_delegators_memo", None)
    if memo is not None and memo[0] == key:
        return memo[1]
    ids = active(today).filter(delegate=user).values_list("delegator_id", flat=True)
    people = list(User.objects.filter(pk__in=list(ids), is_active=True))
    user._delegators_memo = (key, people)
    return people


def _overlapping(qs, starts_on, ends_on):
    return qs.filter(ended_at__isnull=True, starts_on__lte=ends_on, ends_on__gte=starts_on)


@transaction.atomic
def create(
    *,
    delegator: User,
    delegate: User,
    starts_on: datetime.date,
    ends_on: datetime.date,
    reason: str = "",
    actor: User,
    request=None,
) -> Delegation:
    if actor.pk != delegator.pk and not actor.is_infra:
        raise PermissionDenied
    # Lock both people's rows so two delegations created at once cannot form a cycle.
    list(User.objects.select_for_update().filter(pk__in=[delegator.pk, delegate.pk]))
    if ends_on < starts_on:
        raise ValidationError(_("The end date is before the start date."))
    if delegate.pk == delegator.pk:
        raise ValidationError(_("You cannot delegate to yourself."))
    if not delegate.is_active:
        raise ValidationError(_("%(person)s is not active.") % {"person": delegate})
    if _overlapping(Delegation.objects.filter(delegator=delegate), starts_on, ends_on).exists():
        raise ValidationError(
            _("%(person)s is away themselves in that period; delegations cannot be chained.")
            % {"person": delegate}
        )
    if _overlapping(Delegation.objects.filter(delegate=delegator), starts_on, ends_on).exists():
        raise ValidationError(
            _("You are covering for someone in that period; that cannot be handed on.")
        )
    if _overlapping(Delegation.objects.filter(delegator=delegator), starts_on, ends_on).exists():
        raise ValidationError(_("You already have a delegation in that period."))
    _changed()
    obj = Delegation.objects.create(
        delegator=delegator, delegate=delegate, starts_on=starts_on, ends_on=ends_on, reason=reason
    )
    audit.record(CREATED, obj, actor=actor, request=request, after=audit.snapshot(obj))
    return obj


@transaction.atomic
def end(obj: Delegation, *, actor: User, request=None) -> None:
    obj = Delegation.objects.select_for_update().get(pk=obj.pk)
    if actor.pk not in (obj.delegator_id, obj.delegate_id) and not actor.is_infra:
        raise PermissionDenied
    if obj.ended_at:
        return
    before = audit.snapshot(obj)
    obj.ended_at = timezone.now()
    obj.save(update_fields=["ended_at"])
    _changed()
    audit.record(ENDED, obj, actor=actor, request=request, before=before, after=audit.snapshot(obj))
