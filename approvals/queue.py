"""The one approval queue: every kind of request waiting for a user's decision, with its
current stage and whose place the user stands in, read in a fixed number of queries.

The ids come from ``approvals.pending`` (the cached list the navigation's count and the home
panel read); each kind's rows are one query, the stages, their approvers and votes three
more, whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page
from django.utils.translation import gettext_lazy as _

from portal.lists import Filter, ListQuery
from portal.pagination import Paginator
from tenants.models import Department

from . import delegation, pending, registry
from .models import RequestStage
from .models import StageState as S

SEARCH = ["justification", "department__name", "requester__display_name", "requester__email"]
SORTS = {
    "old": (_("Oldest first"), ["created_at", "pk"]),
    "new": (_("Newest first"), ["-created_at", "-pk"]),
    "department": (_("Department"), ["department__name", "created_at", "pk"]),
}
PY_SORTS = {
    "old": (lambda o: (o.created_at, o.pk), False),
    "new": (lambda o: (o.created_at, o.pk), True),
    "department": (lambda o: (o.department.name, o.created_at, o.pk), False),
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
        search_fields=SEARCH,
        filters=[
            # Applied per kind by the queue itself (no lookup): one query per kind stays.
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


def page(request, listq: ListQuery) -> Page:
    """One page of the user's queue, every kind merged in the chosen order."""
    user = request.user
    number = request.GET.get("page") or 1
    try:
        wanted = max(int(number), 1) * settings.PAGE_SIZE
    except (TypeError, ValueError):
        wanted = settings.PAGE_SIZE
    objs, total = [], 0
    for label, kind in pending.kinds_in_queue(user):
        named = any(f.name == "name" for f in kind.model._meta.get_fields())
        listq.search_fields = [*SEARCH, "name"] if named else SEARCH
        qs = listq.apply(request, pending.pending(kind.model, user))
        if listq.values.get("kind", kind.slug) != kind.slug:
            continue
        qs = qs.select_related("department", "requester")
        found = list(qs[: wanted + 1])
        total += len(found)
        objs += [(label, obj) for obj in found]
    key, reverse = PY_SORTS[listq.values.get("sort", "old")]
    objs.sort(key=lambda pair: key(pair[1]), reverse=reverse)
    paginator = Paginator([Row(obj, label) for label, obj in objs], settings.PAGE_SIZE)
    result = paginator.get_page(number)
    annotate(list(result.object_list), user)
    return result


def annotate(rows: list[Row], user) -> None:
    """Each row's summary, current stage and whose place ``user`` stands in."""
    if not rows:
        return
    models = {type(r.obj) for r in rows}
    cts = ContentType.objects.get_for_models(*models)
    stages = (
        RequestStage.objects.filter(
            state=S.ACTIVE,
            content_type__in=list(cts.values()),
            object_id__in=[r.obj.pk for r in rows],
        )
        .prefetch_related("approvers", "decisions")
        .order_by("position")
    )
    by_request = {(s.content_type_id, s.object_id): s for s in stages}
    delegators = [d for d in delegation.delegators_of(user)]
    led = _led_departments([user, *delegators])
    for row in rows:
        kind = registry.kind_of(row.obj)
        row.summary = kind.summary(row.obj) if kind and kind.summary else ""
        row.stage = by_request.get((cts[type(row.obj)].pk, row.obj.pk))
        row.standing_in_for = _standing_in_for(row, user, delegators, led)


def _led_departments(people) -> dict[int, set[int]]:
    from tenants.models import Membership

    led: dict[int, set[int]] = {p.pk: set() for p in people}
    for user_id, department_id in Membership.objects.filter(
        user__in=people, role=Membership.Role.LEAD
    ).values_list("user_id", "department_id"):
        led[user_id].add(department_id)
    return led


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
        approvers = {a.pk for a in row.stage.approvers.all()}
        if user.pk in approvers:
            return None
        counted = {d.counted_for_id for d in row.stage.decisions.all()}
        free = [d for d in delegators if d.pk in approvers and d.pk not in counted]
    else:
        if _decides_alone(user, obj, led):
            return None
        free = [d for d in delegators if _decides_alone(d, obj, led)]
    return next((d for d in free if d.pk != obj.requester_id), None)
