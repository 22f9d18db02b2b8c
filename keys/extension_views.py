"""The owner's "extend this key" page and the approvers' decision page of an extension."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from approvals.lifecycle import Status
from approvals.views_decide import decide
from portal.integrations.errors import IntegrationError

from . import extensions
from .extension_forms import ExtensionForm
from .models import KeyExtension, VirtualKey


def extend_key(request, pk):
    """Ask for more days on one's own live key: same key, same secret, a later expiry."""
    key = get_object_or_404(VirtualKey.objects.select_related("department", "requester"), pk=pk)
    if not key.can_view(request.user):
        raise Http404  # do not confirm that someone else's key exists
    if key.requester_id != request.user.pk:
        raise PermissionDenied  # only the owner extends
    form = ExtensionForm(request.POST or None, key=key, user=request.user)
    blocked = extensions.refusal(key, request.user)
    if request.method == "POST" and not blocked and form.is_valid():
        try:
            ext = extensions.request_extension(
                key,
                actor=request.user,
                days=form.cleaned_data["days"],
                justification=form.cleaned_data["justification"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except IntegrationError as exc:
            messages.error(request, _("The extension failed: %(error)s") % {"error": exc})
            return redirect(key)
        else:
            messages.success(request, progress(ext))
            return redirect(key)
    context = {
        "key": key,
        "form": form,
        "blocked": blocked,
        "waiting": key.extension_requests.filter(status=Status.SUBMITTED).first(),
        "new_expiry": form.new_expiry(),
        "auto": _auto_approves(key, form["days"].value()),
    }
    return render(request, "keys/extend.html", context)


def _auto_approves(key: VirtualKey, days) -> bool:
    """Whether an extension by ``days`` (as typed) would pass without an approver."""
    if not str(days or "").isdigit():
        return False
    ext = KeyExtension(key=key, department=key.department, lifetime_days=int(days))
    return ext.auto_approvable()


def progress(ext: KeyExtension) -> str:
    """Where the extension stands now (re-read: an in-process worker may be done already)."""
    ext.refresh_from_db()
    if ext.status == Status.SUBMITTED:
        return _("Extension requested. It waits for approval; the key keeps working meanwhile.")
    if ext.status == Status.ACTIVE:
        return _("Extended: the same key now works until the new expiry.")
    if ext.status == Status.FAILED:
        return _("Approved, but LiteLLM was not updated yet; the platform team can retry.")
    return _("Extension approved. A worker is moving the key's expiry.")


def approved_message(ext: KeyExtension) -> str:
    return progress(ext)


def decide_extension(request, pk):
    qs = KeyExtension.objects.select_related("department", "requester", "key")
    return decide(request, get_object_or_404(qs, pk=pk), approved_message)
