"""Cost pages: dashboards (my spend, a department, the organisation), budgets, exports.

URL names are in ``costs.urls``; the figures come from ``costs.reports`` and
``costs.org_reports``.
"""

from .budgets import alert_list, budget_request, member_budgets, set_member_budget
from .dashboards import department, index, mine, org
from .exports import chargeback

__all__ = [
    "alert_list",
    "budget_request",
    "chargeback",
    "department",
    "index",
    "member_budgets",
    "mine",
    "org",
    "set_member_budget",
]
