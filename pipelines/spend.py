"""Whose spend the pipeline keys are, for the chargeback and the FOCUS export (registered with
``costs.tags`` at start-up)."""

from __future__ import annotations

import datetime

from .models import PipelineExchange, PipelineIdentity

PREFIX = "pipeline-"


def names(user_ids: list[str]) -> dict[str, str]:
    """LiteLLM user id (``pipeline-<pk>``) → identity name, for the identities that exist."""
    pks = {u.removeprefix(PREFIX) for u in user_ids if u.startswith(PREFIX)}
    pks = {int(pk) for pk in pks if pk.isdigit() and len(pk) < 12}
    rows = PipelineIdentity.objects.filter(pk__in=pks).values_list("pk", "name")
    return {f"{PREFIX}{pk}": name for pk, name in rows}


def runs(start: datetime.date, end: datetime.date) -> dict[str, tuple[str, str]]:
    """Key hash → (identity name, repository) of the run keys that may have spent in the UTC
    days ``start`` … ``end``: a run key lives at most a day, so those issued from the day
    before ``start`` to the end of ``end``."""
    since = datetime.datetime.combine(start, datetime.time(), datetime.UTC)
    until = datetime.datetime.combine(end, datetime.time(), datetime.UTC)
    rows = (
        PipelineExchange.objects.filter(
            outcome=PipelineExchange.Outcome.ISSUED,
            created_at__gte=since - datetime.timedelta(days=1),
            created_at__lt=until + datetime.timedelta(days=1),
        )
        .exclude(key_hash="")
        .values_list("key_hash", "identity__name", "repository")
    )
    return {key_hash: (name or "", repository) for key_hash, name, repository in rows}
