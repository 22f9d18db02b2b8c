"""Pages: an identity with its recent exchanges; its decision (the shared decision page)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _

from .models import PipelineIdentity
from .requests import decide

RECENT = 50


def _visible_identity(request, pk: int) -> PipelineIdentity:
    identity = get_object_or_404(
        PipelineIdentity.objects.select_related("department", "requester"), pk=pk
    )
    if not identity.can_view(request.user):
        raise Http404
    return identity


def identity_detail(request, pk: int):
    identity = _visible_identity(request, pk)
    exchanges = identity.exchanges.order_by("-created_at", "-pk")[:RECENT]
    context = {
        "identity": identity,
        "exchanges": exchanges,
        "live_keys": identity.exchanges.live().count(),
        "can_decide": identity.is_pending and identity.can_decide(request.user),
        "portal_url": request.build_absolute_uri("/").rstrip("/"),
        "proxy_url": settings.LITELLM_PUBLIC_URL,
    }
    return render(request, "pipelines/identity_detail.html", context)


def approved_message(identity: PipelineIdentity) -> str:
    return _("Approved. The identity is being set up in LiteLLM; its pipelines can then "
             "exchange their tokens.")  # fmt: skip


def decide_identity(request, pk: int):
    qs = PipelineIdentity.objects.select_related("department", "requester")
    return decide(request, get_object_or_404(qs, pk=pk), approved_message)
