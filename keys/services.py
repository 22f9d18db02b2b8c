"""What happens to a virtual key: submit, approve, provision, hand over, rotate, revoke, expire.

Provisioning is a sequence of "ensure" steps. Each one looks before it creates, so a retry,
a second worker or a worker killed mid-step never makes a second team, user or key.
"""

from __future__ import annotations

import contextlib
import logging

from django.db import transaction
from django.utils import timezone
from portal.integrations.litellm import LiteLLMClient

from portal import audit
from portal.integrations.errors import Conflict, IntegrationError, NotFound
from tenants.models import Department, User

from . import notify
from .lifecycle import Status
from .models import ReconcileRun, VirtualKey

log = logging.getLogger(__name__)


def team_id_for(department: Department) -> str:
    return department.litellm_team_id or f"portal-{department.slug}"


# --- request and decision ------------------------------------------------------------------
@transaction.atomic
def submit(key: VirtualKey, *, request=None) -> VirtualKey:
    """Save a validated request; auto-approve when the policy allows; tell the leads."""
    key.status = Status.SUBMITTED
    key.save()
    audit.record(
        "virtualkey.submitted", key, actor=key.requester, request=request, after=audit.snapshot(key)
    )
    if key.department.auto_approves(budget=key.max_budget, lifetime_days=key.lifetime_days):
        approve(key, actor=key.requester, auto=True, request=request)
    else:
        notify.request_submitted(key)
    return key


@transaction.atomic
def approve(
    key: VirtualKey, *, actor: User, comment: str = "", auto: bool = False, request=None, **lowered
) -> None:
    key.approve(actor, comment=comment, auto=auto, request=request, **lowered)
    notify.request_decided(key)
    enqueue_provisioning(key)


@transaction.atomic
def reject(key: VirtualKey, *, actor: User, comment: str, request=None) -> None:
    key.reject(actor, comment=comment, request=request)
    notify.request_decided(key)


def enqueue_provisioning(key: VirtualKey) -> None:
    from .tasks import provision_key

    transaction.on_commit(lambda: provision_key.delay(key.pk))


@transaction.atomic
def retry_failed(key: VirtualKey, *, actor: User, request=None) -> None:
    """Infra's retry button: back to approved, then the worker picks it up from the last step."""
    key._transition(
        Status.APPROVED, allowed_from=[Status.FAILED], actor=actor, request=request, attempts=0
    )
    enqueue_provisioning(key)


# --- provisioning steps ----------------------------------------------------------------------
def ensure_team(client: LiteLLMClient, department: Department) -> str:
    team_id = team_id_for(department)
    budget = float(department.monthly_budget) if department.monthly_budget else None
    try:
        client.team_info(team_id)
        result = "exists"
    except NotFound:
        try:
            client.new_team(
                team_id=team_id,
                team_alias=department.name,
                max_budget=budget,
                budget_duration="30d" if budget else None,
                metadata={"department": department.slug, "cost_centre": department.cost_centre},
            )
            result = "created"
        except Conflict:
            result = "exists"
    if department.litellm_team_id != team_id:
        Department.objects.filter(pk=department.pk).update(litellm_team_id=team_id)
        department.litellm_team_id = team_id
    return result


def ensure_user(client: LiteLLMClient, user: User) -> str:
    try:
        client.user_info(user.entra_oid)
        return "exists"
    except NotFound:
        pass
    try:
        client.new_user(user_id=user.entra_oid, user_email=user.email)
        return "created"
    except Conflict:
        return "exists"


def ensure_membership(client: LiteLLMClient, team_id: str, user: User) -> str:
    try:
        client.team_member_add(team_id=team_id, user_id=user.entra_oid)
        return "added"
    except Conflict:
        return "exists"


def ensure_key(client: LiteLLMClient, key_id: int) -> str:
    """Generate the key, or find it by alias. A found key whose secret we never stored
    (the worker died between LiteLLM's answer and our commit) is regenerated, not duplicated."""
    with transaction.atomic():
        key = (
            VirtualKey.objects.select_for_update()
            .select_related("department", "requester")
            .get(pk=key_id)
        )
        if key.litellm_key_id and (key.secret_encrypted or key.secret_revealed_at):
            return "exists"
        existing = client.find_key_by_alias(key.alias)
        if existing is None:
            response = client.generate_key(
                key_alias=key.alias,
                user_id=key.litellm_user_id,
                team_id=team_id_for(key.department),
                models=key.llm_models,
                max_budget=float(key.max_budget),
                budget_duration=key.budget_duration or None,
                rpm_limit=key.rpm_limit,
                tpm_limit=key.tpm_limit,
                duration=f"{key.lifetime_days}d",
                metadata=key.litellm_metadata(),
                tags=key.litellm_tags(),
            )
            result = "created"
        else:
            response = client.regenerate_key(existing["token"])
            result = "regenerated"
        key.litellm_key_id = response.get("token_id") or response.get("token") or ""
        key.store_secret(response["key"])
        key.save(
            update_fields=[
                "litellm_key_id",
                "secret_last4",
                "secret_encrypted",
                "secret_revealed_at",
                "updated_at",
            ]
        )
        return result


def provision(key_id: int) -> None:
    """Run every step that is not done yet, then mark the key active."""
    with transaction.atomic():
        key = (
            VirtualKey.objects.select_for_update()
            .select_related("department", "requester")
            .get(pk=key_id)
        )
        if key.status not in (Status.APPROVED, Status.PROVISIONING):
            log.info("nothing to provision", extra={"key": key_id, "status": key.status})
            return
        if key.status == Status.APPROVED:
            key._transition(Status.PROVISIONING, allowed_from=[Status.APPROVED], actor=None)
        key.attempts += 1
        key.save(update_fields=["attempts", "updated_at"])

    client = LiteLLMClient.from_settings(changed_by=f"portal:{key.requester.email}")
    key.record_step("team", ensure_team(client, key.department))
    if key.kind == VirtualKey.Kind.PERSONAL:
        key.record_step("user", ensure_user(client, key.requester))
        key.record_step(
            "membership", ensure_membership(client, team_id_for(key.department), key.requester)
        )
    key.record_step("key", ensure_key(client, key.pk))

    with transaction.atomic():
        key = VirtualKey.objects.select_for_update().get(pk=key_id)
        if key.status == Status.PROVISIONING:
            key.mark_active()
            notify.key_ready(key)
    log.info("key provisioned", extra={"key": key_id, "alias": key.alias})


# --- hand-over, rotation, revocation, expiry ---------------------------------------------------
@transaction.atomic
def reveal(key_id: int, *, user: User, request=None) -> str | None:
    """Return the secret once, to its owner, and wipe it. None if there is nothing to reveal."""
    key = VirtualKey.objects.select_for_update().get(pk=key_id)
    if key.requester_id != user.pk or not key.secret_encrypted:
        return None
    secret = key.take_secret()
    key.save(update_fields=["secret_encrypted", "secret_revealed_at", "updated_at"])
    audit.record("virtualkey.revealed", key, actor=user, request=request)
    return secret


@transaction.atomic
def rotate(key: VirtualKey, *, actor: User, request=None) -> None:
    """New secret now, old one refused at once; the new one waits to be revealed once."""
    key = VirtualKey.objects.select_for_update().get(pk=key.pk)
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}")
    response = client.regenerate_key(key.litellm_key_id)
    key.litellm_key_id = response.get("token_id") or response.get("token") or key.litellm_key_id
    key.store_secret(response["key"])
    key.save()
    audit.record("virtualkey.rotated", key, actor=actor, request=request)


def _end(key: VirtualKey, status: str, *, actor: User | None, request=None) -> None:
    client = LiteLLMClient.from_settings(changed_by=f"portal:{actor.email}" if actor else "portal")
    if key.litellm_key_id:
        with contextlib.suppress(NotFound):  # already gone in LiteLLM: the end state we want
            client.delete_keys(keys=[key.litellm_key_id])
    key._transition(
        status,
        allowed_from=[Status.ACTIVE],
        actor=actor,
        request=request,
        ended_at=timezone.now(),
        secret_encrypted="",
    )
    notify.ended(key)


@transaction.atomic
def revoke(key: VirtualKey, *, actor: User, request=None) -> None:
    _end(key, Status.REVOKED, actor=actor, request=request)


@transaction.atomic
def expire(key: VirtualKey) -> None:
    _end(key, Status.EXPIRED, actor=None)


# --- reconcile ---------------------------------------------------------------------------------
def reconcile(client: LiteLLMClient | None = None) -> ReconcileRun:
    """Compare every managed team's keys in LiteLLM with the portal's; record the drift.

    Portal keys gone or blocked in LiteLLM are marked; LiteLLM keys in managed teams that
    the portal does not know are listed for infra. Nothing is deleted automatically.
    """
    client = client or LiteLLMClient.from_settings(changed_by="portal:reconcile")
    run = ReconcileRun.objects.create()
    findings: list[dict] = []
    try:
        for department in Department.objects.exclude(litellm_team_id=""):
            remote = {k["token"]: k for k in _all_team_keys(client, department.litellm_team_id)}
            run.teams_checked += 1
            run.keys_checked += len(remote)
            for key in VirtualKey.objects.filter(department=department, status=Status.ACTIVE):
                found = remote.get(key.litellm_key_id)
                drift = ""
                if found is None:
                    drift = "deleted in LiteLLM outside the portal"
                elif found.get("blocked"):
                    drift = "blocked in LiteLLM outside the portal"
                if drift:
                    findings.append(
                        _finding(drift.split()[0], department, key.alias, key.litellm_key_id)
                    )
                if drift != key.drift:
                    VirtualKey.objects.filter(pk=key.pk).update(drift=drift)
                    audit.record(
                        "virtualkey.drift", key, before={"drift": key.drift}, after={"drift": drift}
                    )
            ours = set(
                VirtualKey.objects.filter(department=department).values_list(
                    "litellm_key_id", flat=True
                )
            )
            for token, info in remote.items():
                if token not in ours:
                    findings.append(
                        _finding("unknown", department, info.get("key_alias") or "", token)
                    )
    except IntegrationError as exc:
        run.error = str(exc)
    run.findings = findings
    run.finished_at = timezone.now()
    run.save()
    return run


def _finding(kind: str, department: Department, alias: str, token: str) -> dict:
    return {"kind": kind, "team": department.litellm_team_id, "alias": alias, "token": token}


def _all_team_keys(client: LiteLLMClient, team_id: str) -> list[dict]:
    keys, page = [], 1
    while True:
        response = client.list_keys(team_id=team_id, page=page, size=100, return_full_object=True)
        keys.extend(response.get("keys") or [])
        if page >= (response.get("total_pages") or 1):
            return keys
        page += 1
