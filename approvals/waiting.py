"""What waits for whose decision: the ``PendingDecision`` rows, kept in step with the requests,
their stages, the stages' approvers and the votes, and the questions asked of them.

A queue and its count read these rows through their indexes (a person's own rows, the rows of
requests without stages of the departments they lead, of every kind for infra), so the time
grows with what waits for that person, never with the organisation's open requests.

``sync`` rewrites one request's rows from the tables they summarise; it runs in the
transaction of the change that calls for it (the receivers in ``ApprovalsConfig.ready``: a
request saved or deleted, a stage started or closed, an approver added, a vote), under the
request's row lock wherever the engine holds one. ``rebuild`` rewrites every row (after each
``migrate``, and for data written without the ORM, as the benchmarks seed it).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from tenants.models import Membership, User

from . import delegation, registry
from .models import PendingDecision, RequestStage, StageDecision
from .models import StageState as S

# What a request's fields must hold to be waiting at all (the lifecycle's ``submitted``).
SUBMITTED = "submitted"
# A request saved with only these fields changed cannot change what waits for whom.
WAITING_FIELDS = frozenset({"status", "approver", "department", "requester", "created_at"})


def _rows_sql(table: str, *, one: bool) -> str:
    """INSERT … SELECT of the rows of a kind's requests (one request's with ``one``)."""
    pd = PendingDecision._meta.db_table
    stage = RequestStage._meta.db_table
    approvers = RequestStage.approvers.through._meta.db_table
    vote = StageDecision._meta.db_table
    only = "AND r.id = %(pk)s" if one else ""
    columns = "content_type_id, object_id, department_id, requester_id, approver_id, created_at"
    return f"""
        INSERT INTO {pd} ({columns}, decider_id, stage_id)
        SELECT %(ct)s, r.id, r.department_id, r.requester_id, r.approver_id, r.created_at,
               NULL, NULL
          FROM {table} r
         WHERE r.status = %(submitted)s {only}
           AND NOT EXISTS (SELECT 1 FROM {stage} s
                            WHERE s.content_type_id = %(ct)s AND s.object_id = r.id)
        UNION ALL
        SELECT %(ct)s, r.id, r.department_id, r.requester_id, r.approver_id, r.created_at,
               a.user_id, s.id
          FROM {table} r
          JOIN {stage} s ON s.content_type_id = %(ct)s AND s.object_id = r.id
                        AND s.state = %(active)s
          JOIN {approvers} a ON a.requeststage_id = s.id
         WHERE r.status = %(submitted)s {only}
           AND NOT EXISTS (SELECT 1 FROM {vote} d WHERE d.stage_id = s.id
                            AND (d.actor_id = a.user_id OR d.counted_for_id = a.user_id))
        ON CONFLICT DO NOTHING
    """  # noqa: S608 (table names from the models' own metadata; values are parameters)


def sync(model: type[models.Model], pk: int) -> None:
    """Rewrite the rows of one request (none once it no longer waits, or is gone)."""
    ct = ContentType.objects.get_for_model(model)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        forget(cursor, ct.pk, pk)
        params = {"ct": ct.pk, "pk": pk, "submitted": SUBMITTED, "active": S.ACTIVE}
        cursor.execute(_rows_sql(model._meta.db_table, one=True), params)


def forget(cursor, content_type_id: int, pk: int) -> None:
    """Delete one request's rows (one statement: no per-row signals, nothing points here)."""
    cursor.execute(
        f"DELETE FROM {PendingDecision._meta.db_table} "  # noqa: S608
        "WHERE content_type_id = %s AND object_id = %s",
        [content_type_id, pk],
    )


def rebuild() -> None:
    """Rewrite every row, with the table locked against the ``sync`` of a change meanwhile."""
    pd = PendingDecision._meta.db_table
    tables = set(connection.introspection.table_names())
    if pd not in tables:
        return  # migrating back, or not yet migrated
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {pd} IN EXCLUSIVE MODE")  # noqa: S608
        cursor.execute(f"DELETE FROM {pd}")  # noqa: S608
        for kind in registry.KINDS.values():
            table = kind.model._meta.db_table
            if table not in tables:
                continue
            ct = ContentType.objects.get_for_model(kind.model)
            params = {"ct": ct.pk, "submitted": SUBMITTED, "active": S.ACTIVE}
            cursor.execute(_rows_sql(table, one=False), params)


# --- the receivers (connected in ``ApprovalsConfig.ready``) -----------------------------------
def request_saved(sender, instance=None, created=False, update_fields=None, **kwargs) -> None:
    if registry.kind_of(instance) is None or kwargs.get("raw"):
        return
    if created and instance.status != SUBMITTED:
        return  # a request born decided (a test's, an import's) never waited
    if update_fields is not None and not WAITING_FIELDS & set(update_fields):
        return
    sync(type(instance), instance.pk)


def request_deleted(sender, instance=None, **kwargs) -> None:
    if registry.kind_of(instance) is not None:
        ct = ContentType.objects.get_for_model(type(instance))
        with connection.cursor() as cursor:
            forget(cursor, ct.pk, instance.pk)


def stage_changed(sender, instance=None, created=False, update_fields=None, **kwargs) -> None:
    """A stage started, closed or changed hands; a vote cast or taken back; approvers added
    or removed (m2m_changed: after the change)."""
    action = kwargs.get("action")
    if action is not None and action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, StageDecision):
        instance = RequestStage.objects.filter(pk=instance.stage_id).first()
    elif isinstance(instance, RequestStage) and action is None:
        if created and instance.state == S.WAITING:
            return  # copied from the policy at submit: nothing waits on it yet
        if update_fields is not None and "state" not in update_fields:
            return
    if not isinstance(instance, RequestStage):
        return
    model = ContentType.objects.get_for_id(instance.content_type_id).model_class()
    if model is not None and registry.kind_of(model) is not None:
        sync(model, instance.object_id)


def after_migrate(sender, **kwargs) -> None:
    rebuild()


# --- the questions ---------------------------------------------------------------------------
def led_department_ids(person: User) -> list[int]:
    """The departments ``person`` leads (the memberships read once per request)."""
    return [m.department_id for m in person.memberships_once() if m.role == Membership.Role.LEAD]


def closed_to(user: User) -> RawSQL:
    """The stages ``user`` may not vote in for someone they stand in for: where they voted,
    and (the policy's distinct-people rule, on unless a stage says otherwise) the active
    stages after one of the same request where they voted or their vote was cast. Read from
    the user's own votes, once, whatever the number of open requests."""
    stage, vote = RequestStage._meta.db_table, StageDecision._meta.db_table
    sql = f"""
        SELECT d.stage_id FROM {vote} d WHERE d.actor_id = %s
        UNION ALL
        SELECT cur.id FROM {vote} d
          JOIN {stage} e ON e.id = d.stage_id
          JOIN {stage} cur ON cur.content_type_id = e.content_type_id
                          AND cur.object_id = e.object_id AND cur.position > e.position
         WHERE (d.actor_id = %s OR d.counted_for_id = %s) AND cur.state = %s
           AND COALESCE(cur.rule -> 'distinct_approvers', 'true') <> 'false'
    """  # noqa: S608 (table names from the models' own metadata; values are parameters)
    return RawSQL(sql, [user.pk, user.pk, user.pk, S.ACTIVE])  # noqa: S611 (as above)


def waiting_for(user: User, kinds: Iterable[type[models.Model]]) -> models.QuerySet:
    """The rows of requests of ``kinds`` that wait for ``user``'s decision, never their own:
    those whose active stage lists them, or someone they stand in for today (whose vote they
    may still cast), and those without stages that they (or whoever they stand in for) decide
    alone, by the kind's ``single_decider``. A request can have several rows: count and list
    distinct ``(content_type, object_id)``."""
    kinds = list(kinds)
    cts = ContentType.objects.get_for_models(*kinds)
    delegators = delegation.delegators_of(user)
    arms = [Q(decider=user)]
    if delegators:
        arms.append(Q(decider__in=delegators) & ~Q(stage__in=closed_to(user)))
    # Requests without stages: one arm per distinct rule of who decides (most kinds share it).
    by_rule: dict[Q, list[int]] = {}
    for model in kinds:
        manager = model._default_manager
        deciders = reduce(
            or_, (manager.single_decider(p) & ~Q(requester=p) for p in [user, *delegators])
        )
        by_rule.setdefault(deciders, []).append(cts[model].pk)
    for deciders, ct_ids in by_rule.items():
        arms.append(Q(decider__isnull=True, content_type__in=ct_ids) & deciders)
    return PendingDecision.objects.filter(
        reduce(or_, arms), content_type__in=[ct.pk for ct in cts.values()]
    ).exclude(requester=user)


def object_ids(model: type[models.Model], user: User) -> models.QuerySet:
    """Ids of ``model`` requests waiting for ``user`` (a subquery)."""
    return waiting_for(user, [model]).values("object_id")


def count(user: User, kinds: Iterable[type[models.Model]]) -> int:
    """How many requests of ``kinds`` wait for ``user``: one query. A request has one row
    for each decider (and requests without stages one without), so only someone standing in
    for another can meet one request twice."""
    rows = waiting_for(user, kinds)
    if delegation.delegators_of(user):
        rows = rows.values("content_type", "object_id").distinct()
    return rows.count()
