"""Every kind of request the engine decides, and every kind of grant an access review covers.

The apps above this one (keys, costs) register their kinds from ``AppConfig.ready()``; the
engine never imports them. A kind is found by its model label (``keys.virtualkey``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models


@dataclass(frozen=True)
class Kind:
    """How the engine reads and finishes one kind of request.

    ``facts(obj)`` returns what stage conditions and auto-approval look at: ``budget``
    (Decimal or None), ``lifetime_days`` (int or None), ``models`` (list), ``retention_days``
    (int or None), ``service_account`` (bool). ``auto_approval``: whether the department's
    auto-approval thresholds apply to this kind at all (``engine.auto_approves``).
    ``approve``/``reject`` are the kind's own final paths (they lock the row, check
    ``can_decide`` and audit); ``expire`` ends a request nobody decided in time.
    """

    model: type[models.Model]
    facts: Callable[[Any], dict]
    approve: Callable[..., None]
    reject: Callable[..., None]
    expire: Callable[..., None]
    # Whose approval queue (and navigation count) shows this kind; None: everyone's.
    queued_for: Callable[[Any], bool] | None = None
    auto_approval: bool = False


@dataclass(frozen=True)
class Reviewable:
    """A kind of grant an access review covers: what is live, and how to take it back."""

    model: type[models.Model]
    live: Callable[[Any], models.QuerySet]  # departments → queryset of live grants
    revoke: Callable[..., None]  # (obj, *, actor) — ends it for good
    suspend: Callable[..., None]  # (obj, *, actor) — stops it; a lead may restore it
    owner_field: str = "requester"
    extra: dict = field(default_factory=dict)


KINDS: dict[str, Kind] = {}
REVIEWABLES: dict[str, Reviewable] = {}


def label(model_or_obj) -> str:
    return model_or_obj._meta.label_lower


def register(model: type[models.Model], **hooks) -> None:
    KINDS[label(model)] = Kind(model=model, **hooks)


def register_reviewable(model: type[models.Model], **hooks) -> None:
    REVIEWABLES[label(model)] = Reviewable(model=model, **hooks)


def kind_of(obj) -> Kind | None:
    return KINDS.get(label(obj))


def model_for(kind_label: str) -> type[models.Model] | None:
    kind = KINDS.get(kind_label) or REVIEWABLES.get(kind_label)
    return kind.model if kind else None
