"""The one approval queue: every kind of request waiting for a user's decision, with its
current stage and whose place the user stands in, read in a fixed number of queries.

What waits comes from ``approvals.waiting`` through ``pending.entries``: one query for the
page's entries of every kind, merged, filtered and sorted in the database (counted by the
navigation's count, or by one more query when filtered); then each kind's requests on the
page by their ids, and the current stages, their approvers' and counted votes' ids three
more, whatever the number of open requests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.lists import Filter, ListQuery
from portal.pagination import Paginator
from tenants.models import Department

from . import delegation, pending, registry, waiting
from .models import RequestStage, StageDecision
from .models import StageState as S

SEARCH = ["justification", "department__name", "requester__display_name", "requester__email"]
# Over the entries (``pending.entries``): the request's time, then a fixed tie-break.
TIE = ["content_type", "object_id"]
SORTS = {
    "old": (_("Oldest first"), ["created_at", *TIE]),
    "new": (_("Newest first"), ["-created_at", *(f"-{f}" for f in TIE)]),
    "department": (_("Department"), ["department__name", "created_at", *TIE]),
}


@dataclass
class Row:
    obj: object
    label: str  # the kind's registry label: "keys.virtualkey"
    summary: str = ""
    stage: RequestStage | None = None
    standing_in_for: object = None  # the approver whose place the user takes, if not theirs

    @property
    def value(self) -> str:
        """What the bulk form posts for this row: the row decides the stage it shows, never a
        later one."""
        stage = f":{self.stage.pk}" if self.stage is not None else ""
        return f"{self.label}:{self.obj.pk}{stage}"


def list_query(request) -> ListQuery:
    """The queue's search, filters and sort, read from the query string now (the controls
    show them even when the rows come from the page cache)."""
    user = request.user
    kinds = pending.kinds_in_queue(user)
    departments = Department.objects.order_by("name").values_list("pk", "name")
    listq = ListQuery(
        search_fields=[],  # over each kind's own fields: ``search``
        filters=[
            Filter(
                "kind", _("Kind"), "", [(k.slug, k.model._meta.verbose_name) for _l, k in kinds]
            ),
            Filter(
                "department",
                _("Department"),
                "department_id",
                [(str(p), n) for p, n in departments],
            ),
        ],
        sorts=SORTS,
        default_sort="old",
    )
    listq.read(request)
    return listq


def search(models, text: str) -> Q:
    """Entries whose request matches ``text`` (its justification, department, requester, and
    name where the kind has one)."""
    cts = ContentType.objects.get_for_models(*models)
    arms = []
    for model in models:
        named = any(f.name == "name" for f in model._meta.get_fields())
        fields = [*SEARCH, "name"] if named else SEARCH
        waiting = model._meta.get_field("status").default  # the status a request waits in
        matching = model._default_manager.filter(
            reduce(or_, (Q(**{f"{f}__icontains": text}) for f in fields)), status=waiting
        )
        arms.append(Q(content_type=cts[model], object_id__in=matching.values("pk")))
    return reduce(or_, arms, Q(pk__in=[]))


def page(request, listq: ListQuery) -> Page:
    """One page of the user's queue, every kind merged in the chosen order."""
    user = request.user
    values = listq.values
    models = [
        kind.model
        for _label, kind in pending.kinds_in_queue(user)
        if values.get("kind", kind.slug) == kind.slug
    ]
    entries = listq.apply(request, pending.entries(user, models))  # department, sort
    if values["q"]:
        entries = entries.filter(search(models, values["q"]))
    paginator = Paginator(entries, settings.PAGE_SIZE)
    if not listq.active:
        paginator.count = pending.nav_count(user)  # the same requests, counted once
    result = paginator.get_page(request.GET.get("page"))
    objs = pending.requests_for(list(result.object_list))
    result.object_list = [Row(obj, registry.label(obj)) for obj in objs]
    annotate(result.object_list, user)
    return result


def annotate(rows: list[Row], user) -> None:
    """Each row's summary, current stage and whose place ``user`` stands in."""
    if not rows:
        return
    models = {type(r.obj) for r in rows}
    cts = ContentType.objects.get_for_models(*models)
    stages = list(
        RequestStage.objects.filter(
            state=S.ACTIVE,
            content_type__in=list(cts.values()),
            object_id__in=[r.obj.pk for r in rows],
        ).only("content_type", "object_id", "name")
    )
    # Only who approves each stage and whose votes are counted: ids, not people.
    approvers, counted = defaultdict(set), defaultdict(set)
    through = RequestStage.approvers.through.objects.filter(requeststage__in=stages)
    for stage_id, user_id in through.values_list("requeststage_id", "user_id"):
        approvers[stage_id].add(user_id)
    votes = StageDecision.objects.filter(stage__in=stages)
    for stage_id, user_id in votes.values_list("stage_id", "counted_for_id"):
        counted[stage_id].add(user_id)
    for stage in stages:
        stage.approver_ids, stage.counted_ids = approvers[stage.pk], counted[stage.pk]
    by_request = {(s.content_type_id, s.object_id): s for s in stages}
    delegators = delegation.delegators_of(user)
    led = {p.pk: set(waiting.led_department_ids(p)) for p in [user, *delegators]}
    for row in rows:
        kind = registry.kind_of(row.obj)
        row.summary = kind.summary(row.obj) if kind and kind.summary else ""
        row.stage = by_request.get((cts[type(row.obj)].pk, row.obj.pk))
        row.standing_in_for = _standing_in_for(row, user, delegators, led)


def _decides_alone(person, obj, led) -> bool:
    if person.is_infra:
        return True
    if obj.approver_id:
        return person.pk == obj.approver_id
    return obj.department_id in led.get(person.pk, set())


def _standing_in_for(row: Row, user, delegators, led):
    """The person whose place ``user`` takes on this request (None: their own place). For a
    page only: the decision itself checks again under the row lock."""
    obj = row.obj
    if row.stage is not None:
        approvers, counted = row.stage.approver_ids, row.stage.counted_ids
        if user.pk in approvers:
            return None
        free = [d for d in delegators if d.pk in approvers and d.pk not in counted]
    else:
        if _decides_alone(user, obj, led):
            return None
        free = [d for d in delegators if _decides_alone(d, obj, led)]
    return next((d for d in free if d.pk != obj.requester_id), None)
