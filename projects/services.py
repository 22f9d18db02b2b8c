"""Tuning projects in Langfuse: provision, hand over, route traces, tear down (metrics:
``metrics``; reconcile: ``reconcile``).

Every step looks before it creates (the project by its deterministic name, API keys by their
note), so retries and a killed worker never leave a second project behind. Without Langfuse's
admin-API entitlement (HTTP 403), the request goes to infra's manual fulfilment queue and
the rest of its life is the same.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from approvals import mail
from approvals.lifecycle import ENDED_STATUSES, Status
from keys.models import VirtualKey
from portal import audit, crypto
from portal.integrations.errors import IntegrationError, NotFound
from portal.integrations.langfuse import EntitlementMissing, LangfuseClient
from portal.integrations.litellm import LiteLLMClient

from . import notify
from .metrics import pull_metrics
from .models import TuningProject

FULFILLED_MANUALLY = audit.action("tuningproject.fulfilled_manually")
TORN_DOWN = audit.action("tuningproject.torn_down")
TORN_DOWN_BY_HAND = audit.action("tuningproject.torn_down_by_hand")

log = logging.getLogger(__name__)


NO_LANGFUSE = "No Langfuse is connected (LANGFUSE_HOST is not set): infra creates it by hand."


def _locked(project_id: int) -> TuningProject:
    # "of self": route_key is a nullable join, which PostgreSQL cannot lock.
    return (
        TuningProject.objects.select_for_update(of=("self",))
        .select_related("department", "requester", "route_key")
        .get(pk=project_id)
    )


# --- provisioning ------------------------------------------------------------------------------
def provision(project_id: int) -> None:
    project = TuningProject.objects.select_related("department", "requester").get(pk=project_id)
    if not project.start_provisioning():
        return
    if not settings.LANGFUSE_HOST:
        # No Langfuse to call (as in the demo): the path of a Langfuse without the admin API.
        to_manual_queue(project_id, NO_LANGFUSE)
        return
    client = LangfuseClient.from_settings()
    try:
        project.record_step("project", ensure_project(client, project_id))
    except EntitlementMissing as exc:
        to_manual_queue(project_id, str(exc))
        return
    project.record_step("developer_key", ensure_api_key(client, project_id, developer=True))
    project.record_step("portal_key", ensure_api_key(client, project_id, developer=False))
    project.record_step("membership", ensure_membership(client, project_id))
    project.record_step("routing", ensure_routing(project_id))
    with transaction.atomic():
        project = _locked(project_id)
        if project.status == Status.PROVISIONING:
            project.mark_active()
            mail.key_ready(project)


def ensure_project(client: LangfuseClient, project_id: int) -> str:
    with transaction.atomic():
        project = _locked(project_id)
        if project.status != Status.PROVISIONING:
            return f"skipped: {project.status}"
        if project.langfuse_project_id:
            return "exists"
        metadata = {
            "portal_request_id": project.pk,
            "department": project.department.slug,
            "owner": project.requester.email,
        }
        found, created = client.ensure_project(
            project.project_name, retention_days=project.retention_days or 0, metadata=metadata
        )
        project.langfuse_project_id = found.id
        project.save(update_fields=["langfuse_project_id", "updated_at"])
        return "created" if created else "found"


@sensitive_variables("created")
def ensure_api_key(client: LangfuseClient, project_id: int, *, developer: bool) -> str:
    """One key pair for the developer (revealed once) and one for the portal itself.

    Langfuse returns a secret only when the key is created, so a key with our note whose
    secret we never stored (worker died after the call) is deleted and made again.
    """
    with transaction.atomic():
        project = _locked(project_id)
        if project.status != Status.PROVISIONING or not project.langfuse_project_id:
            return f"skipped: {project.status}"
        if (
            developer
            and project.langfuse_api_key_id
            and (project.secret_encrypted or project.secret_revealed_at)
        ):
            return "exists"
        if not developer and project.portal_api_key_id and project.portal_secret_encrypted:
            return "exists"
        note = project.developer_key_note if developer else project.portal_key_note
        result = "created"
        for existing in client.list_api_keys(project.langfuse_project_id):
            if existing.note == note:
                client.delete_api_key(project.langfuse_project_id, existing.id)
                result = "recreated"
        created = client.create_api_key(project.langfuse_project_id, note=note)
        if developer:
            project.langfuse_api_key_id = created.id
            project.public_key = created.public_key
            project.store_secret(created.secret_key)
        else:
            project.portal_api_key_id = created.id
            project.portal_public_key = created.public_key
            project.portal_secret_encrypted = crypto.encrypt(created.secret_key)
        project.save(
            update_fields=[
                "langfuse_api_key_id",
                "public_key",
                "secret_encrypted",
                "secret_last4",
                "secret_revealed_at",
                "portal_api_key_id",
                "portal_public_key",
                "portal_secret_encrypted",
                "updated_at",
            ]
        )
        return result


def ensure_membership(client: LangfuseClient, project_id: int) -> str:
    """Add the developer to the project when Langfuse knows them; optional, never fatal."""
    project = TuningProject.objects.select_related("requester").get(pk=project_id)
    try:
        user = client.find_user_by_email(project.requester.email)
        if user is None:
            return "skipped: not a Langfuse user yet"
        client.upsert_project_membership(project.langfuse_project_id, user.id, "MEMBER")
        return "added"
    except (EntitlementMissing, NotFound) as exc:
        return f"skipped: {exc.message[:100]}"


@sensitive_variables()
def _logging_callback(project: TuningProject) -> dict:
    return {
        "callback_name": "langfuse",
        "callback_type": "success",
        "callback_vars": {
            "langfuse_public_key": project.portal_public_key,
            "langfuse_secret_key": project.portal_secret(),
            "langfuse_host": settings.LANGFUSE_HOST,
        },
    }


def ensure_routing(project_id: int) -> str:
    """Send the chosen virtual key's traces to the tuning project for the lease (LiteLLM
    per-key logging metadata); the rest of the key's metadata is kept."""
    with transaction.atomic():
        project = _locked(project_id)
        if project.status != Status.PROVISIONING:
            return f"skipped: {project.status}"
        if project.route_key_id is None:
            return "not requested"
        # The key's lock too: serialised with a rotation or revocation of that key.
        key = VirtualKey.objects.locked(project.route_key_id)
        if key.status != Status.ACTIVE or not key.litellm_key_id:
            return "not possible: the key is not active"
        client = LiteLLMClient.from_settings(changed_by=f"portal:{project.requester.email}")
        info = client.key_info(key.litellm_key_id).get("info", {})
        metadata = dict(info.get("metadata") or {})
        metadata["logging"] = [_logging_callback(project)]
        client.update_key(key.litellm_key_id, metadata=metadata)
        project.routed_at = timezone.now()
        project.save(update_fields=["routed_at", "updated_at"])
        return "routed"


def remove_routing(project: TuningProject) -> None:
    """Call with the project's row locked."""
    if not (project.routed_at and project.route_key_id):
        return
    key = VirtualKey.objects.locked(project.route_key_id)
    if not key.litellm_key_id:
        return
    client = LiteLLMClient.from_settings(changed_by="portal:teardown")
    try:
        metadata = dict(client.key_info(key.litellm_key_id).get("info", {}).get("metadata") or {})
    except NotFound:
        return  # the key is gone; nothing routes anywhere
    metadata.pop("logging", None)
    client.update_key(key.litellm_key_id, metadata=metadata)
    TuningProject.objects.filter(pk=project.pk).update(routed_at=None)


@transaction.atomic
def to_manual_queue(project_id: int, reason: str) -> None:
    project = _locked(project_id)
    if project.status != Status.PROVISIONING:
        return
    project.transition(
        Status.MANUAL,
        allowed_from=[Status.PROVISIONING],
        actor=None,
        fulfilment=TuningProject.Fulfilment.MANUAL,
        last_error=reason,
    )
    notify.manual_fulfilment_needed(project)


@sensitive_variables("secret_key")
@transaction.atomic
def fulfil_manually(
    project: TuningProject,
    *,
    actor,
    request=None,
    langfuse_project_id: str,
    public_key: str,
    secret_key: str,
) -> None:
    project = _locked(project.pk)
    if project.status != Status.MANUAL:
        raise ValidationError(_("Only a project waiting for manual fulfilment can be fulfilled."))
    project.langfuse_project_id = langfuse_project_id
    project.public_key = public_key
    project.store_secret(secret_key)
    project.save(
        update_fields=[
            "langfuse_project_id",
            "public_key",
            "secret_encrypted",
            "secret_last4",
            "secret_revealed_at",
            "updated_at",
        ]
    )
    audit.record(
        FULFILLED_MANUALLY,
        project,
        actor=actor,
        request=request,
        after={"langfuse_project_id": langfuse_project_id, "public_key": public_key},
    )
    project.transition(
        Status.PROVISIONING, allowed_from=[Status.MANUAL], actor=actor, request=request
    )
    if project.route_key_id:
        # Routing needs a key pair the portal keeps; a hand-made project has only the
        # developer's, so traces stay in the production project. Say so on the page.
        project.record_step("routing", "not possible: fulfilled by hand")
    project.mark_active()
    mail.key_ready(project)


# --- end of the lease --------------------------------------------------------------------------
@transaction.atomic
def request_teardown(project: TuningProject, *, status: str, actor=None, request=None) -> None:
    """End the lease now: the status changes at once; the worker (or infra, for manual
    projects) removes the project from Langfuse."""
    project = _locked(project.pk)
    project.transition(
        status,
        allowed_from=[Status.ACTIVE],
        actor=actor,
        request=request,
        ended_at=timezone.now(),
        secret_encrypted="",
    )
    mail.ended(project)
    if project.fulfilment == TuningProject.Fulfilment.AUTOMATIC:
        project.enqueue_cleanup()


def teardown(project_id: int) -> None:
    """Un-route traces, delete the project's API keys, then the project. Idempotent, and
    under the project's lock, so a provisioning run cannot add to what is being removed."""
    with transaction.atomic():
        project = _locked(project_id)
        if project.torn_down_at or project.status not in ENDED_STATUSES:
            return
        if project.fulfilment != TuningProject.Fulfilment.AUTOMATIC:
            return  # infra removes hand-made projects and confirms it
        remove_routing(project)
        client = LangfuseClient.from_settings()
        try:  # the last read of the lease's figures, while the portal's key still works
            pull_metrics(project)
        except IntegrationError as exc:
            log.warning(
                "last metrics pull failed", extra={"project": project.pk, "error": str(exc)}
            )
        if project.langfuse_project_id:
            try:
                for key in client.list_api_keys(project.langfuse_project_id):
                    client.delete_api_key(project.langfuse_project_id, key.id)
                client.delete_project(project.langfuse_project_id)
            except NotFound:
                pass  # already gone
        project.torn_down_at = timezone.now()
        project.portal_secret_encrypted = ""
        project.save(update_fields=["torn_down_at", "portal_secret_encrypted", "updated_at"])
        audit.record(TORN_DOWN, project)


@transaction.atomic
def confirm_manual_teardown(project: TuningProject, *, actor, request=None) -> None:
    project = _locked(project.pk)
    if project.torn_down_at or project.fulfilment != TuningProject.Fulfilment.MANUAL:
        raise ValidationError(_("Nothing to confirm for this project."))
    remove_routing(project)
    project.torn_down_at = timezone.now()
    project.save(update_fields=["torn_down_at", "updated_at"])
    audit.record(TORN_DOWN_BY_HAND, project, actor=actor, request=request)
