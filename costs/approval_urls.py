"""Budget decisions beside the key and project decisions (``approvals/...``, not under
``costs/``)."""

from django.urls import path

from . import budget_approvals

urlpatterns = [
    path("approvals/budgets/<int:pk>/", budget_approvals.decide_budget, name="decide_budget"),
]
