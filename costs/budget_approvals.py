"""Budget requests in the approval queue and on the decision page that ``approvals`` serves.

``CostsConfig`` registers :func:`queue_panel` with the queue; :func:`decide_budget` renders
the shared decision page under ``approval_urls``."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from approvals import pending
from approvals.views_decide import decide

from .models import BudgetRequest


def queue_panel(user, ctx: dict) -> dict:
    """Budget requests in the approval queue: infra's call, from what waits for the user."""
    if not user.is_infra:
        return {}
    waiting = pending.pending(BudgetRequest, user).select_related("department", "requester")
    return {"budgets": waiting.order_by("created_at")[: settings.PAGE_SIZE]}


def approved_message(obj: BudgetRequest) -> str:
    return _("Approved. The new budget is being applied to %(dept)s and to LiteLLM.") % {
        "dept": obj.department.name
    }


def decide_budget(request, pk):
    qs = BudgetRequest.objects.select_related("department", "requester")
    return decide(request, get_object_or_404(qs, pk=pk), approved_message)
