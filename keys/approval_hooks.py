"""What the approval engine needs to know about virtual keys, registered in
``KeysConfig.ready()``: the facts stage conditions read, the Celery tasks that provision and
clean up, and how an access review takes a grant back."""

from __future__ import annotations

from django.db import transaction

from approvals import registry
from approvals.lifecycle import Status
from portal.templatetags.portal_ui import days_text, money_text

from . import extensions, leavers, services, tasks
from .models import KeyExtension, VirtualKey


def key_facts(key: VirtualKey) -> dict:
    return {
        "budget": key.max_budget,
        "lifetime_days": key.lifetime_days,
        "models": list(key.llm_models or []),
        "retention_days": None,
        "service_account": key.kind == VirtualKey.Kind.SERVICE,
    }


def extension_facts(ext: KeyExtension) -> dict:
    """An extension is judged as a new key of the days asked for, with the key's budget,
    models and kind."""
    return {**key_facts(ext.key), "lifetime_days": ext.lifetime_days}


def key_summary(key: VirtualKey) -> str:
    """What a key request asks, in the approval queue."""
    models = ", ".join(key.llm_models)
    return f"{models} · USD {money_text(key.max_budget)} · {days_text(key.lifetime_days)}"


def live_keys(departments):
    return VirtualKey.objects.filter(status=Status.ACTIVE, department__in=departments)


def suspend_key(key: VirtualKey, *, actor) -> None:
    """Access review: stop the key now, as for a leaver (see ``leavers.suspend``)."""
    with transaction.atomic():
        leavers.suspend(key, actor=actor)


def revoke_key(key: VirtualKey, *, actor) -> None:
    """Deleted in LiteLLM. A scheduled campaign has no person behind it: the system ends it."""
    if actor is None:
        services._end(key.pk, Status.REVOKED, actor=None)  # as leavers.revoke_lapsed does
    else:
        services.revoke(key, actor=actor)


def register() -> None:
    registry.register(
        VirtualKey,
        facts=key_facts,
        slug="key",
        summary=key_summary,
        expires=True,
        auto_approval=True,  # the department's thresholds apply (never to tuning projects)
        tasks={
            "provision": tasks.provision_key,
            "cleanup": tasks.purge_key,
            "block": tasks.block_suspended_key,
            "repair": tasks.repair_rotation,
        },
        resume=tasks.resume_blocks,
    )
    registry.register(
        KeyExtension,
        facts=extension_facts,
        slug="extension",
        summary=extensions.summary,
        auto_approval=True,  # as a new key of that lifetime and the key's budget
        tasks={"provision": tasks.extend_key},
    )
    registry.register_reviewable(VirtualKey, live=live_keys, revoke=revoke_key, suspend=suspend_key)
