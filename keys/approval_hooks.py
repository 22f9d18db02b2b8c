"""What the approval engine needs to know about keys and tuning projects, registered in
``KeysConfig.ready()``: the facts stage conditions read, the Celery tasks that provision and
clean up, and how an access review takes a grant back."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from approvals import registry
from approvals.lifecycle import Status

from . import leavers, services, tasks
from .models import TuningProject, VirtualKey


def key_facts(key: VirtualKey) -> dict:
    return {
        "budget": key.max_budget,
        "models": list(key.llm_models or []),
        "retention_days": None,
        "service_account": key.kind == VirtualKey.Kind.SERVICE,
    }


def project_facts(project: TuningProject) -> dict:
    return {
        "budget": None,
        "models": [],
        "retention_days": project.retention_days,
        "service_account": False,
    }


def live_keys(departments):
    return VirtualKey.objects.filter(status=Status.ACTIVE, department__in=departments)


def live_projects(departments):
    return TuningProject.objects.filter(status=Status.ACTIVE, department__in=departments)


def suspend_key(key: VirtualKey, *, actor) -> None:
    """Access review: stop the key now (blocked in LiteLLM after commit, retried); a lead can
    unblock it within the leavers' grace period, after which it is revoked."""
    with transaction.atomic():
        key.transition(
            Status.SUSPENDED,
            allowed_from=[Status.ACTIVE],
            actor=actor,
            suspended_at=timezone.now(),
            blocked_at=None,
        )
        transaction.on_commit(lambda: leavers.block_or_retry(key.pk), robust=True)


def revoke_key(key: VirtualKey, *, actor) -> None:
    """Deleted in LiteLLM. A scheduled campaign has no person behind it: the system ends it."""
    if actor is None:
        services._end(key.pk, Status.REVOKED, actor=None)  # as leavers.revoke_lapsed does
    else:
        services.revoke(key, actor=actor)


def end_project(project: TuningProject, *, actor) -> None:
    """Langfuse has no suspended state: either way, a tuning project's lease ends."""
    from .projects import request_teardown

    with transaction.atomic():
        request_teardown(project, status=Status.REVOKED, actor=actor)


def register() -> None:
    registry.register(
        VirtualKey,
        facts=key_facts,
        tasks={
            "provision": tasks.provision_key,
            "cleanup": tasks.purge_key,
            "block": tasks.block_suspended_key,
        },
    )
    registry.register(
        TuningProject,
        facts=project_facts,
        tasks={"provision": tasks.provision_project, "cleanup": tasks.teardown_project},
        resume=tasks.resume_teardowns,
    )
    registry.register_reviewable(VirtualKey, live=live_keys, revoke=revoke_key, suspend=suspend_key)
    registry.register_reviewable(
        TuningProject, live=live_projects, revoke=end_project, suspend=end_project
    )
