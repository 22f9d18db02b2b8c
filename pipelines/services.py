"""LiteLLM steps for pipeline identities: the identity's user (its daily budget), membership of
the department's team, the keys each run gets, and removing them once expired.

Each ``ensure_*`` step looks before it creates, so a retried provisioning makes nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from portal.integrations.errors import Conflict, NotFound
from portal.integrations.litellm import LiteLLMClient

from .models import PipelineExchange, PipelineIdentity
from .requests import Status, ensure_team, team_id_for

log = logging.getLogger(__name__)

CHANGED_BY = "portal:pipelines"


def client() -> LiteLLMClient:
    return LiteLLMClient.from_settings(changed_by=CHANGED_BY)


def ensure_identity_user(api: LiteLLMClient, identity: PipelineIdentity) -> str:
    """The LiteLLM user that owns the identity's keys, with the daily budget (reset every
    day by LiteLLM)."""
    budget = {"max_budget": float(identity.daily_budget), "budget_duration": "1d"}
    try:
        api.user_info(identity.litellm_user_id)
        api.update_user(identity.litellm_user_id, **budget)
        return "updated"
    except NotFound:
        pass
    try:
        api.new_user(
            user_id=identity.litellm_user_id,
            metadata={"portal_pipeline_identity": identity.pk, "name": identity.name},
            **budget,
        )
        return "created"
    except Conflict:
        return "exists"


def ensure_team_budget(api: LiteLLMClient, identity: PipelineIdentity) -> str:
    """Member of the department's team, with the daily budget as its budget in the team: the
    proxy checks a team key's owner against that (a user's own budget is not checked for team
    keys), refusing calls once the identity spent it today."""
    team_id = team_id_for(identity.department)
    try:
        api.team_member_add(team_id=team_id, user_id=identity.litellm_user_id)
        result = "added"
    except Conflict:
        result = "exists"
    api.team_member_update(
        team_id,
        identity.litellm_user_id,
        max_budget_in_team=float(identity.daily_budget),
        budget_duration="1d",
    )
    return result


def provision(identity_id: int) -> None:
    """Approved → LiteLLM team, user and budget → active (trusted from now on)."""
    identity = PipelineIdentity.objects.select_related("department").get(pk=identity_id)
    if not identity.start_provisioning():
        return
    api = client()
    identity.record_step("litellm_team", ensure_team(api, identity.department))
    identity.record_step("litellm_user", ensure_identity_user(api, identity))
    identity.record_step("litellm_team_budget", ensure_team_budget(api, identity))
    with transaction.atomic():
        identity = PipelineIdentity.objects.locked(identity_id)
        if identity.status == Status.PROVISIONING:
            identity.mark_active()


def spent_today(api: LiteLLMClient, identity: PipelineIdentity) -> Decimal:
    """What the identity's LiteLLM user spent in its current daily budget window."""
    info = api.user_info(identity.litellm_user_id).get("user_info") or {}
    return Decimal(str(info.get("spend") or 0))


def spent_today_cached(api: LiteLLMClient, identity: PipelineIdentity) -> Decimal:
    """:func:`spent_today`, read from LiteLLM at most every ``PIPELINES_SPEND_CACHE_SECONDS``
    per identity (the exchange's hot path). LiteLLM enforces the budget on every call whatever
    this says; this only refuses to mint keys that could not spend anything."""
    seconds = settings.PIPELINES_SPEND_CACHE_SECONDS
    if not seconds:
        return spent_today(api, identity)
    key = f"pipelines:spent:{identity.pk}"
    cached = cache.get(key)
    if cached is None:
        cached = spent_today(api, identity)
        cache.set(key, cached, timeout=seconds)
    return cached


def remove_expired(now=None, limit: int = 500) -> int:
    """Delete the keys of runs that are over from LiteLLM, keeping each key's final spend on
    its exchange row. A key LiteLLM no longer has counts as removed."""
    now = now or timezone.now()
    api = client()
    removed = 0
    due = PipelineExchange.objects.to_sweep(now).order_by("key_expires_at")
    for pk in list(due.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            row = (
                PipelineExchange.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, key_removed_at__isnull=True)
                .first()
            )
            if row is None:
                continue
            spend = None
            try:
                spend = (api.key_info(row.key_hash).get("info") or {}).get("spend")
                api.delete_keys(keys=[row.key_hash])
            except NotFound:
                pass
            row.key_removed_at = now
            if spend is not None:
                row.spend = Decimal(str(spend))
            row.save(update_fields=["key_removed_at", "spend"])
            removed += 1
    return removed


def reconcile(identity: PipelineIdentity) -> list[str]:
    """Keys LiteLLM holds for the identity's user that the portal does not know as live (made
    by an exchange whose transaction did not commit, or left after expiry): deleted."""
    api = client()
    with transaction.atomic():  # the exchange's lock: no key is being minted meanwhile
        PipelineIdentity.objects.locked(identity.pk)
        return delete_stray(api, identity)


def delete_stray(api: LiteLLMClient, identity: PipelineIdentity) -> list[str]:
    live = set(identity.exchanges.live().values_list("key_hash", flat=True))
    stray = []
    page = 1
    while True:
        data = api.list_keys(user_id=identity.litellm_user_id, page=page, size=100)
        for item in data.get("keys") or []:
            token = item.get("token") if isinstance(item, dict) else None
            if token and token not in live:
                stray.append(token)
        if page >= int(data.get("total_pages") or 1):
            break
        page += 1
    if stray:
        with contextlib.suppress(NotFound):
            api.delete_keys(keys=stray)
    return stray
