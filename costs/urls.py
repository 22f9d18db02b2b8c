from django.urls import path

from . import anomaly_views, estimate, exports, recent, soft_budget_views, views

TABLE = "<slug:table>.csv"

urlpatterns = [
    path("", views.index, name="costs_index"),
    path("me/", views.mine, name="costs_mine"),
    path("estimate/", estimate.estimate, name="costs_estimate"),
    path(f"me/{TABLE}", views.mine, name="costs_mine_csv"),
    path(
        "departments/<slug:slug>/focus.<str:fmt>",
        exports.department_focus,
        name="costs_department_focus",
    ),
    path("departments/<slug:slug>/", views.department, name="costs_department"),
    path(f"departments/<slug:slug>/{TABLE}", views.department, name="costs_department_csv"),
    path(
        "departments/<slug:slug>/member-budgets/",
        views.member_budgets,
        name="costs_member_budgets",
    ),
    path(
        "departments/<slug:slug>/member-budget/",
        views.set_member_budget,
        name="costs_member_budget",
    ),
    path(
        "departments/<slug:slug>/soft-budget/",
        soft_budget_views.soft_budget,
        name="costs_soft_budget",
    ),
    path(
        "departments/<slug:slug>/budget-request/",
        views.budget_request,
        name="costs_budget_request",
    ),
    path(
        "departments/<slug:slug>/recent/", recent.department_recent, name="costs_department_recent"
    ),
    path("org/", views.org, name="costs_org"),
    path("org/recent/", recent.org_recent, name="costs_org_recent"),
    path(f"org/{TABLE}", views.org, name="costs_org_csv"),
    path("focus.<str:fmt>", exports.org_focus, name="costs_focus"),
    path("chargeback.csv", views.chargeback, name="costs_chargeback"),
    path("alerts/", views.alert_list, name="costs_alerts"),
    path("anomalies/", anomaly_views.anomaly_list, name="costs_anomalies"),
]
