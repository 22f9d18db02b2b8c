"""Every kind of request the engine decides, and every kind of grant an access review covers.

The apps above this one (keys, projects, costs) register their kinds from
``AppConfig.ready()``; the engine never imports them. A kind is found by its model label
(``keys.virtualkey``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models


@dataclass(frozen=True)
class Kind:
    """What is specific to one kind of request; the rest (submit, stages, decisions,
    cancellation, expiry, provisioning retries) is the engine's.

    ``facts(obj)`` returns what stage conditions and auto-approval look at: ``budget``
    (Decimal or None), ``lifetime_days`` (int or None), ``models`` (list), ``retention_days``
    (int or None), ``service_account`` (bool). ``auto_approval``: whether the department's
    auto-approval thresholds apply to this kind at all (``routing.auto_approves``).
    ``tasks`` holds its Celery tasks by name: ``provision`` (run once approved), ``cleanup``
    (after an open request stopped; optional) and any the kind looks up for itself.
    ``resume(cutoff)`` (optional) re-enqueues the kind's own lost work and returns how many.
    """

    model: type[models.Model]
    facts: Callable[[Any], dict]
    # A short name for URLs (``/operations/retry/key/1/``); the model's name by default.
    slug: str = ""
    # Active requests of this kind end at ``expires_at`` (their owners are reminded before).
    expires: bool = False
    tasks: dict[str, Any] = field(default_factory=dict)
    # Whose approval queue (and navigation count) shows this kind; None: everyone's.
    queued_for: Callable[[Any], bool] | None = None
    resume: Callable[[Any], int] | None = None  # (cutoff) -> count
    # The queue's columns for this kind: obj -> short text of what is asked ("gpt-4o, USD 50").
    summary: Callable[[Any], str] | None = None
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
    hooks.setdefault("slug", model._meta.model_name)
    KINDS[label(model)] = Kind(model=model, **hooks)


def model_for_slug(slug: str) -> type[models.Model] | None:
    return next((kind.model for kind in KINDS.values() if kind.slug == slug), None)


def register_reviewable(model: type[models.Model], **hooks) -> None:
    REVIEWABLES[label(model)] = Reviewable(model=model, **hooks)


def kind_of(obj) -> Kind | None:
    return KINDS.get(label(obj))


def task(obj_or_model, name: str):
    """The kind's Celery task ``name`` (None when the kind has none)."""
    kind = KINDS.get(label(obj_or_model))
    return kind.tasks.get(name) if kind else None


def request_models() -> list[type[models.Model]]:
    return [kind.model for kind in KINDS.values()]


def model_for(kind_label: str) -> type[models.Model] | None:
    kind = KINDS.get(kind_label) or REVIEWABLES.get(kind_label)
    return kind.model if kind else None
