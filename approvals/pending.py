"""What waits for a user's decision: the ids of each kind of request, cached per user.

The navigation's count, the home page's approver panel and the approval queue all ask; the
engine's ``pending_for`` (stages, delegations, led departments) is worked out once per user
and cache version (``portal.context_processors``: it goes up when a request, a stage, a vote,
a delegation or a membership is saved or deleted) and day
(a delegation starts at midnight), for at most NAV_CACHE_SECONDS. The pages read the rows
themselves, with the status they must have; the approval queue keeps what it rendered under
the same version, which a decision moves when it is saved and again when it commits, so a
decided request never shows.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache

from portal import context_processors
from portal.days import local_today

from . import registry

# More than this many waiting requests of one kind (infra, in a large organisation): their ids
# are not cached and the pages filter with the engine's query itself.
MAX_IDS = 500


def kinds_in_queue(user):
    """(label, kind) of each registered kind that ``user``'s queue shows (budgets: infra)."""
    return [
        (label, kind)
        for label, kind in registry.KINDS.items()
        if kind.queued_for is None or kind.queued_for(user)
    ]


def ids_for(user) -> dict[str, list[int] | None]:
    """{model label: ids waiting for ``user``, oldest first (None: more than MAX_IDS)}."""
    key = (
        f"pending:{user.pk}:{int(user.is_infra)}:{local_today().isoformat()}:"
        f"{context_processors.version_for(user)}"
    )
    memo = getattr(user, "_pending_ids", None)
    if memo is not None and memo[0] == key:
        return memo[1]
    ids = cache.get(key)
    if ids is None:
        ids = {}
        # Kinds outside the user's queue are left out: ``pending`` asks the engine if need be.
        for label, kind in kinds_in_queue(user):
            qs = kind.model.objects.pending_for(user).order_by("created_at", "pk")
            found = list(qs.values_list("pk", flat=True)[: MAX_IDS + 1])
            ids[label] = found if len(found) <= MAX_IDS else None
        cache.set(key, ids, timeout=settings.NAV_CACHE_SECONDS)
    user._pending_ids = (key, ids)
    return ids


def pending(model, user):
    """``model.objects.pending_for(user)``, as a filter on the cached ids when there are few."""
    ids = ids_for(user).get(registry.label(model))
    if ids is None:
        return model.objects.pending_for(user)
    # A request waits in the status it is submitted in (its field's default).
    return model.objects.filter(pk__in=ids, status=model._meta.get_field("status").default)


def count(model, user) -> int:
    ids = ids_for(user).get(registry.label(model))
    return model.objects.pending_for(user).count() if ids is None else len(ids)


def forget(sender, instance=None, **kwargs) -> None:
    """Signal receiver: something that decides what waits for whom changed. A stage or a vote
    moves the versions its request concerns; a delegation or a membership, everyone's."""
    from .models import RequestStage, StageDecision

    action = kwargs.get("action")
    if action is not None and action not in ("post_add", "post_remove", "pre_clear"):
        return  # m2m_changed: once per change (before a clear, its approvers are still there)
    stage = None
    if isinstance(instance, StageDecision):
        stage = RequestStage.objects.filter(pk=instance.stage_id).first()
    elif isinstance(instance, RequestStage):
        stage = instance
    if stage is None:
        context_processors.bump()
        return
    scopes = stage_scopes(stage)
    if action and kwargs.get("pk_set"):
        scopes |= {context_processors.user_scope(pk) for pk in kwargs["pk_set"]}
    context_processors.bump(*scopes)


def stage_scopes(stage) -> set[str]:
    """A stage's request's scopes (``request_scopes``), or its department's and infra's and
    its approvers' when the request is gone."""
    from django.contrib.contenttypes.models import ContentType

    model = ContentType.objects.get_for_id(stage.content_type_id).model_class()
    obj = model.objects.filter(pk=stage.object_id).first() if model else None
    if obj is not None and hasattr(obj, "requester_id"):
        return context_processors.request_scopes(obj)
    return {
        context_processors.INFRA,
        context_processors.department_scope(stage.department_id),
        *stage_approvers(stage.content_type_id, stage.object_id),
        *delegates(),
    }


def stage_approvers(content_type_id: int, object_id: int) -> set[str]:
    from .models import RequestStage

    people = RequestStage.approvers.through.objects.filter(
        requeststage__content_type_id=content_type_id, requeststage__object_id=object_id
    ).values_list("user_id", flat=True)
    return {context_processors.user_scope(pk) for pk in people}


def delegates() -> set[str]:
    """Everyone standing in for someone today (few): what waits for their delegators waits
    for them."""
    from . import delegation

    people = delegation.active().values_list("delegate_id", flat=True)
    return {context_processors.user_scope(pk) for pk in people}


def affected(obj) -> set[str]:
    """``context_processors.AFFECTED``: a saved request's stage approvers and the delegates."""
    from django.contrib.contenttypes.models import ContentType

    if obj.pk is None:
        return delegates()
    ct = ContentType.objects.get_for_model(type(obj))
    return stage_approvers(ct.pk, obj.pk) | delegates()


def queues(user) -> list:
    """What waits for ``user``, one queryset per kind in the user's queue (the home panel)."""
    return [pending(kind.model, user) for _, kind in kinds_in_queue(user)]


def nav_count(user) -> int:
    """The navigation's number: every kind the user's queue shows."""
    return sum(count(kind.model, user) for _, kind in kinds_in_queue(user))
