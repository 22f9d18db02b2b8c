"""What the pages of every kind of request share: where a request stands after a change,
the one-time reveal of its secret, running an action with its refusal on the page, and the
requester's cancel."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from portal.integrations.errors import IntegrationError
from portal.integrations.explain import explain

from . import workflow
from .lifecycle import Status


def error_text(raw) -> str:
    """An infra error for a message: the explanation, then the service's own text."""
    e = explain(str(raw or ""))
    return f"{e} ({e.raw})" if e else _("no reason given")


def report_progress(request, obj, *, submitted: bool = False) -> None:
    """One message that says where a request stands *now* (re-read after the commit, when an
    in-process worker may already have finished or failed), never a stale promise."""
    obj.refresh_from_db()
    status = obj.status
    if status == Status.SUBMITTED:
        messages.success(request, _("Request submitted. Your department's leads have been told."))
    elif status == Status.FAILED:
        messages.error(
            request,
            _(
                "Approved, but setting it up failed: %(error)s. "
                "The platform team sees it and can retry."
            )
            % {"error": error_text(obj.last_error)},
        )
    elif status == Status.ACTIVE:
        messages.success(request, _("Approved and ready."))
    elif status == Status.MANUAL:
        messages.info(request, _("Approved. The platform team will set it up by hand."))
    elif submitted:
        messages.success(
            request,
            _(
                "Approved automatically by your department's policy. "
                "Where it stands shows below, as it happens."
            ),
        )
    else:
        messages.success(request, _("Approved. A worker is setting it up."))


@sensitive_variables("secret", "extra", "response")
def reveal_once(request, obj, template: str, context: dict, *, with_secret=None):
    """Show ``obj``'s secret to its owner once (never cached), or say why not.
    ``with_secret(secret)`` adds what is built from the secret (the setup snippets)."""
    secret = workflow.reveal(type(obj), obj.pk, user=request.user, request=request)
    if secret is None:
        messages.error(request, _("This secret has already been shown once, or is not yours."))
        return redirect(obj)
    extra = with_secret(secret) if with_secret else {}
    response = render(request, template, {**context, **extra, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@sensitive_variables("kwargs")  # they may carry a secret (a manual fulfilment's key)
def attempt(request, action, obj, **kwargs) -> bool:
    """Run ``action(obj, actor=..., request=..., **kwargs)``, a state change; its refusal
    becomes the page's error message. True: it was done."""
    try:
        action(obj, actor=request.user, request=request, **kwargs)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return False
    return True


def perform(request, obj, action, *, failed: str, done: str, **kwargs):
    """Run ``action(obj, actor=..., request=..., **kwargs)``, a state change; report a refusal
    or a service failure on the page, never a 500."""
    try:
        action(obj, actor=request.user, request=request, **kwargs)
    except ValidationError as exc:
        messages.error(request, failed % {"error": " ".join(exc.messages)})
    except IntegrationError as exc:
        messages.error(request, failed % {"error": error_text(exc)})
    else:
        messages.success(request, done)
    return redirect(obj)


def viewer_context(request, obj) -> dict:
    """What a request's page shows its viewer: whether they own it, whether they decide it."""
    return {
        "is_owner": obj.requester_id == request.user.pk,
        "can_decide": obj.is_pending and obj.can_decide(request.user),
    }


def cancel_own(request, obj):
    """The requester cancels their own pending request (anyone else: 403)."""
    if obj.requester_id != request.user.pk:
        raise PermissionDenied
    if attempt(request, workflow.cancel, obj):
        messages.success(request, _("Request cancelled."))
    return redirect(obj)
