"""The kinds of request the navigation's pending count adds up, registered by their apps
from ``AppConfig.ready()`` (the portal imports none of them)."""

from __future__ import annotations

# (model, infra only): a model whose manager has ``pending_for(user)``.
PENDING: list[tuple[type, bool]] = []


def register_pending(model: type, *, infra_only: bool = False) -> None:
    if (model, infra_only) not in PENDING:
        PENDING.append((model, infra_only))


def pending_count(user) -> int:
    return sum(
        model.objects.pending_for(user).count()
        for model, infra_only in PENDING
        if user.is_infra or not infra_only
    )
