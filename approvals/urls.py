from django.urls import path

from . import views, views_chat, views_operations, views_reviews, views_teams

urlpatterns = [
    path("approvals/", views.queue, name="approval_queue"),
    path("approvals/inbox/", views.old_queue, name="approvals_inbox"),
    path("approvals/bulk/", views.bulk_decide, name="approvals_bulk"),
    path("approvals/delegations/", views.delegations, name="delegations"),
    path("approvals/delegations/<int:pk>/end/", views.end_delegation, name="end_delegation"),
    path("approvals/sla/", views.sla_report, name="approvals_sla"),
    path(
        "operations/retry/<str:kind>/<int:pk>/",
        views_operations.retry_request,
        name="retry_request",
    ),
    path("approvals/slack/interactions/", views_chat.slack_interactions, name="slack_interactions"),
    path("integrations/teams/messages", views_teams.teams_messages, name="teams_messages"),
    path("reviews/", views_reviews.review_list, name="reviews"),
    path("reviews/<int:pk>/", views_reviews.review_campaign, name="review_campaign"),
    path("reviews/<int:pk>/report.csv", views_reviews.review_csv, name="review_csv"),
    path("reviews/items/<int:pk>/", views_reviews.review_item, name="review_item"),
]
