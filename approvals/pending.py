"""What waits for a user's decision, every kind at once, and who must see a change at once.

The navigation's count, the home page's approver panel and the approval queue ask
``approvals.waiting`` (rows kept beside the requests, read through their indexes): the count
is one query whatever the number of kinds, and a page of the queue one more, with the rows of
each kind on it read by their ids. The navigation keeps its count, and the queue what it
rendered, under the user's cache version (``portal.context_processors``: it goes up when a
request, a stage, a vote, a delegation or a membership is saved or deleted, which the
receivers below see), for at most NAV_CACHE_SECONDS; a decision moves it when it is saved and
again when it commits, so a decided request never shows.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.contenttypes.models import ContentType

from portal import context_processors

from . import delegation, registry, waiting
from .models import RequestStage, StageDecision


def kinds_in_queue(user):
    """(label, kind) of each registered kind that ``user``'s queue shows (budgets: infra)."""
    return [
        (label, kind)
        for label, kind in registry.KINDS.items()
        if kind.queued_for is None or kind.queued_for(user)
    ]


def entries(user, kinds=None):
    """What waits for ``user``, every kind in their queue (or ``kinds``) at once: one
    ``{"content_type", "object_id", "created_at"}`` row per request, to be ordered and sliced
    (distinct when the user stands in for someone: see ``waiting.count``)."""
    models = [k.model for _, k in kinds_in_queue(user)] if kinds is None else kinds
    rows = waiting.waiting_for(user, models).values("content_type", "object_id", "created_at")
    return rows.distinct() if delegation.delegators_of(user) else rows


def requests_for(page_entries) -> list:
    """The requests of ``page_entries`` (rows of ``entries``), in their order: one query per
    kind among them, with the department and the requester."""
    ids = defaultdict(list)
    for entry in page_entries:
        ids[entry["content_type"]].append(entry["object_id"])
    found = {}
    for ct_id, pks in ids.items():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        qs = model._default_manager.filter(pk__in=pks).select_related("department", "requester")
        found.update({(ct_id, obj.pk): obj for obj in qs})
    keys = ((e["content_type"], e["object_id"]) for e in page_entries)
    return [found[key] for key in keys if key in found]  # one decided meanwhile: left out


def first(user, n: int) -> list:
    """The ``n`` oldest requests waiting for ``user`` (the home panel)."""
    return requests_for(list(entries(user).order_by("created_at", "content_type", "object_id")[:n]))


def nav_count(user) -> int:
    """The navigation's number: every kind the user's queue shows, in one query (asked once
    per request and version: the queue's first page counts with it)."""
    version = context_processors.version_for(user)
    memo = getattr(user, "_pending_count", None)
    if memo is None or memo[0] != version:
        memo = (version, waiting.count(user, [kind.model for _, kind in kinds_in_queue(user)]))
        user._pending_count = memo
    return memo[1]


def forget(sender, instance=None, **kwargs) -> None:
    """Signal receiver: something that decides what waits for whom changed. A stage or a vote
    moves the versions its request concerns; a delegation or a membership, everyone's."""
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
    people = RequestStage.approvers.through.objects.filter(
        requeststage__content_type_id=content_type_id, requeststage__object_id=object_id
    ).values_list("user_id", flat=True)
    return {context_processors.user_scope(pk) for pk in people}


def delegates() -> set[str]:
    """Everyone standing in for someone today (few): what waits for their delegators waits
    for them."""
    people = delegation.active().values_list("delegate_id", flat=True)
    return {context_processors.user_scope(pk) for pk in people}


def affected(obj) -> set[str]:
    """``context_processors.AFFECTED``: a saved request's stage approvers and the delegates."""
    if obj.pk is None:
        return delegates()
    ct = ContentType.objects.get_for_model(type(obj))
    return stage_approvers(ct.pk, obj.pk) | delegates()
