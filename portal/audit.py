"""``record()``: write one audit event. Call it in the same transaction as the change.

Every action name is declared once, as a module constant, with :func:`action`
(``ROTATED = audit.action("virtualkey.rotated")``); :data:`ACTIONS` is then the portal's own
list of what it writes, which the audit page's tests iterate."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import re
import sys
import uuid
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.http import HttpRequest

from .models import AuditEvent

# Every declared action name → the module that declared it.
ACTIONS: dict[str, str] = {}
ACTION_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def action(name: str, *, where: str = "") -> str:
    """Declare an audit action name (``<model>.<past-tense verb>``) and return it. Declare it
    once, where the change is made; everybody else imports that constant."""
    if not ACTION_NAME.fullmatch(name):
        raise ValueError(f"audit action names read <model>.<verb>: {name!r}")
    where = where or sys._getframe(1).f_globals.get("__name__", "")
    if ACTIONS.setdefault(name, where) != where:
        raise ValueError(f"audit action {name!r} is declared in {ACTIONS[name]} already")
    return name


def declared(name: str) -> str:
    """``name``, which must have been declared with :func:`action` (for names built from a
    model and a verb at run time)."""
    if name not in ACTIONS:
        raise ValueError(f"undeclared audit action {name!r}")
    return name


# Field names whose values never enter the audit log.
SECRET_FIELDS = {"secret", "secret_encrypted", "password", "key", "token", "secret_key"}


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The JSON-safe state of a model instance, without secrets, for before/after."""
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in SECRET_FIELDS or "secret" in field.name:
            continue
        data[field.name] = _jsonable(field.value_from_object(obj))
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # a time zone, an IP address object, a file… as it reads


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as far as the portal can trust it.

    With ``TRUSTED_PROXY_COUNT`` = 0 (the default) that is ``REMOTE_ADDR``: any
    ``X-Forwarded-For`` comes from the client and is ignored. Behind N reverse proxies, each
    appends the address it saw, so the Nth entry from the right was written by the outermost
    proxy we trust; entries left of it are the client's own claims.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return _valid_ip(remote)
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return _valid_ip(remote)  # not (all) through our proxies
    return _valid_ip(forwarded[-proxies]) or _valid_ip(remote)


def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


# Labels models had before they moved to another app, {old label: model}: events keep the
# label they were written with (the log is append-only), and readers ask for both. Filled
# from the new app's ``AppConfig.ready()``.
FORMER_LABELS: dict[str, type[models.Model]] = {}


def register_former_label(model: type[models.Model], old_label: str) -> None:
    FORMER_LABELS[old_label] = model


def labels_of(model: type[models.Model]) -> list[str]:
    """Every ``object_type`` the events of ``model`` may carry: its label, then former ones."""
    former = [old for old, moved in FORMER_LABELS.items() if moved is model]
    return [model._meta.label_lower, *former]


def labels_for(object_type: str) -> list[str]:
    """An ``object_type`` filter's labels: a moved model's current label finds its old events
    too (and an old label finds the new ones)."""
    model = FORMER_LABELS.get(object_type)
    if model is None:
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            return [object_type]
    return labels_of(model)


def model_for(object_type: str) -> type[models.Model]:
    """The model an event's ``object_type`` names (raises LookupError or ValueError)."""
    return FORMER_LABELS.get(object_type) or apps.get_model(object_type)


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    actor=None,
    request: HttpRequest | None = None,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    department_id: int | None = None,
) -> AuditEvent:
    """Append an event. ``actor`` defaults to the request's user; no user means the system."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:254]
        if department_id is None:
            is_department = obj._meta.label_lower == "tenants.department"
            department_id = obj.pk if is_department else getattr(obj, "department_id", None)
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=(getattr(actor, "email", "") or str(actor)) if actor else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        department_id=department_id,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        ip_address=client_ip(request),
    )
