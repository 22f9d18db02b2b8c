"""The audit log for people: action names in words, and only what changed, old → new,
with every time shown in the portal's time zone."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from . import audit
from .templatetags.portal_ui import money_text, when_text

OBJECTS = {
    "virtualkey": _("Virtual key"),
    "tuningproject": _("Tuning project"),
    "budgetrequest": _("Budget request"),
    "department": _("Department"),
    "directory": _("Directory"),
    "user": _("User"),
    "costs": _("Costs"),
    "memberbudget": _("Member budget"),
}
VERBS = {
    "submitted": _("submitted"),
    "approved": _("approved"),
    "rejected": _("rejected"),
    "cancelled": _("cancelled"),
    "provisioning": _("provisioning started"),
    "active": _("became active"),
    "failed": _("failed"),
    "manual": _("sent to infra to fulfil"),
    "revoked": _("revoked"),
    "expired": _("expired"),
    "suspended": _("suspended"),
    "unblocked": _("unblocked"),
    "revealed": _("secret revealed"),
    "rotated": _("rotated"),
    "blocked": _("blocked"),
    "drift": _("drift found"),
    "torn_down": _("deleted in Langfuse"),
    "torn_down_by_hand": _("deleted by hand"),
    "fulfilled": _("fulfilled by hand"),
    "budget_changed": _("budget changed"),
    "member_budget_set": _("member budget set"),
    "sync_failed": _("sync failed"),
    "sync_requested": _("sync requested"),
    "synced": _("synced"),
    "signed_in": _("signed in"),
    "demo_signed_in": _("signed in (demo)"),
    "created": _("created"),
    "changed": _("changed"),
    "deleted": _("deleted"),
}


def action_label(action: str) -> str:
    """``virtualkey.approved`` → "Virtual key: approved" (in the active language)."""
    subject, _sep, verb = action.partition(".")
    if subject in OBJECTS and verb in VERBS:
        return f"{OBJECTS[subject]}: {VERBS[verb]}"
    return action


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: str
    new: str


def _field(object_type: str, name: str):
    try:
        return audit.model_for(object_type)._meta.get_field(name)
    except (LookupError, ValueError, FieldDoesNotExist):
        return None


def _field_label(object_type: str, name: str) -> str:
    """A field's label. ``get_field`` also returns reverse relations (``ManyToOneRel``…) and
    generic foreign keys, which have no ``verbose_name``: those are named after the model
    they point to, or after the snapshot key itself."""
    field = _field(object_type, name)
    label = getattr(field, "verbose_name", None)
    if label is None and field is not None and field.is_relation and field.related_model:
        meta = field.related_model._meta
        many = field.one_to_many or field.many_to_many
        label = meta.verbose_name_plural if many else meta.verbose_name
    return str(label) if label else name.replace("_", " ")


def _related_model(object_type: str, name: str):
    """The model a snapshot field points to (a foreign key stores its id), else None."""
    field = _field(object_type, name)
    return field.related_model if field is not None and field.many_to_one else None


Names = dict[tuple[type, str], str]


def related_names(events) -> Names:
    """Readable names of the objects the events' foreign keys point to: one query per model."""
    wanted: dict[type, set[str]] = {}
    for event in events:
        for side in (event.before, event.after):
            for name, value in (side if isinstance(side, dict) else {}).items():
                model = _related_model(event.object_type, name) if value not in (None, "") else None
                if model is not None:
                    wanted.setdefault(model, set()).add(str(value))
    names: Names = {}
    for model, pks in wanted.items():
        valid = [pk for pk in pks if pk.isdigit()] if model._meta.pk.get_internal_type() in (
            "AutoField", "BigAutoField", "IntegerField", "BigIntegerField"
        ) else list(pks)  # fmt: skip
        for obj in model._default_manager.filter(pk__in=valid):
            names[(model, str(obj.pk))] = str(obj)
    return names


def show(value: Any) -> str:
    """One value as a person reads it; ISO date-times in the portal's zone."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show(v)}" for k, v in value.items()) or "—"
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, datetime.UTC)
            return when_text(parsed)
    return str(value)


MONEY_FIELDS = {"max_budget", "monthly_budget", "previous_budget"}


def _money(value: Any) -> str:
    return show(value) if value in (None, "") else money_text(value)


def _related(model, value: Any, names: Names, with_id: bool) -> str:
    if value in (None, ""):
        return show(value)
    name = names.get((model, str(value)))
    if name is None:
        return f"#{value}"  # gone since, or not looked up
    return f"{name} (#{value})" if with_id else name


def changes(event, names: Names | None = None, *, with_id: bool = False) -> list[Change]:
    """The fields whose value differs between before and after, old → new. A foreign key shows
    the related object's name from ``names`` (``related_names``), with its id if ``with_id``."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    created = not before
    out = []
    for name in list(before) + [k for k in after if k not in before]:
        old, new = before.get(name), after.get(name)
        if old == new or name in ("id", "updated_at"):
            continue
        if created and show(new) == "—":
            continue  # a new object: only the values it was given
        model = _related_model(event.object_type, name)
        if model is not None:
            old, new = (_related(model, v, names or {}, with_id) for v in (old, new))
        else:
            fmt = _money if name in MONEY_FIELDS else show
            old, new = fmt(old), fmt(new)
        out.append(Change(name, _field_label(event.object_type, name), old, new))
    return out


def changes_text(event, names: Names | None = None) -> str:
    """For the CSV: field names, and related objects by name with their id."""
    return "; ".join(f"{c.field}: {c.old} → {c.new}" for c in changes(event, names, with_id=True))
