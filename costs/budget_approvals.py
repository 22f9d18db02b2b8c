"""Budget requests in the approval queue and on the decision page that ``approvals`` serves.

``CostsConfig`` registers :func:`summary` with the queue; :func:`decide_budget` renders the
shared decision page under ``approval_urls``."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from approvals.views_decide import decide
from portal.templatetags.portal_ui import money_text

from .models import BudgetRequest


def summary(obj: BudgetRequest) -> str:
    """What a budget request asks, in the approval queue."""
    return _("USD %(old)s → %(new)s a month") % {
        "old": money_text(obj.previous_budget),
        "new": money_text(obj.monthly_budget),
    }


def approved_message(obj: BudgetRequest) -> str:
    return _("Approved. The new budget is being applied to %(dept)s and to LiteLLM.") % {
        "dept": obj.department.name
    }


def decide_budget(request, pk):
    qs = BudgetRequest.objects.select_related("department", "requester")
    return decide(request, get_object_or_404(qs, pk=pk), approved_message)
