"""Pages: the identities a user may see, the request form, one identity with its recent
exchanges, disabling it, and its decision (the shared decision page)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from keys.lists import requests_for
from portal.pagination import page_of

from . import claims, disabling
from .forms import IdentityRequestForm
from .models import PipelineIdentity
from .requests import decide, perform, report_progress, submit

RECENT = 50
RELATED = ("department", "requester")


def _visible_identity(request, pk: int) -> PipelineIdentity:
    identity = get_object_or_404(PipelineIdentity.objects.select_related(*RELATED), pk=pk)
    if not identity.can_view(request.user):
        raise Http404
    return identity


def identity_list(request):
    """Own identities; a lead's departments' too; everyone's for infra."""
    listq = requests_for(request.user, ["name", "issuer", "audience", "justification"])
    qs = PipelineIdentity.objects.visible_to(request.user).select_related(*RELATED)
    page = page_of(request, listq.apply(request, qs))
    return render(request, "pipelines/identity_list.html", {"page": page, "listq": listq})


def request_identity(request):
    form = IdentityRequestForm(
        request.POST or None, user=request.user, department=request.GET.get("department")
    )
    if not form.fields["department"].queryset.exists():
        return render(request, "portal/no_department.html")
    if request.method == "POST" and form.is_valid():
        identity = form.save(commit=False)
        identity.requester = request.user
        submit(identity, request=request)
        report_progress(request, identity, submitted=True)
        return redirect(identity)
    known = [(kind, label, claims.KNOWN_CLAIMS[kind]) for kind, label in claims.ISSUER_KINDS]
    return render(request, "pipelines/request_form.html", {"form": form, "known_claims": known})


def identity_detail(request, pk: int):
    identity = _visible_identity(request, pk)
    exchanges = identity.exchanges.order_by("-created_at", "-pk")[:RECENT]
    context = {
        "identity": identity,
        "exchanges": exchanges,
        "live_keys": identity.exchanges.live().count(),
        "can_decide": identity.is_pending and identity.can_decide(request.user),
        "can_disable": identity.status in disabling.DISABLEABLE
        and disabling.may_disable(identity, request.user),
        "portal_url": request.build_absolute_uri("/").rstrip("/"),
        "proxy_url": settings.LITELLM_PUBLIC_URL,
    }
    return render(request, "pipelines/identity_detail.html", context)


@require_POST
def disable_identity(request, pk: int):
    identity = _visible_identity(request, pk)
    if not disabling.may_disable(identity, request.user):
        raise PermissionDenied
    reason = (request.POST.get("reason") or "").replace("\x00", "")[:300]
    return perform(
        request,
        identity,
        disabling.disable,
        reason=reason,
        failed=_("Not disabled: %(error)s"),
        done=_("Identity disabled. Its pipelines get no more keys; its live keys are being "
               "deleted."),
    )  # fmt: skip


def approved_message(identity: PipelineIdentity) -> str:
    return _("Approved. The identity is being set up in LiteLLM; its pipelines can then "
             "exchange their tokens.")  # fmt: skip


def decide_identity(request, pk: int):
    qs = PipelineIdentity.objects.select_related(*RELATED)
    return decide(request, get_object_or_404(qs, pk=pk), approved_message)
