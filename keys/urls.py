from django.urls import path

from . import drift_views, project_views, queue_views, views

urlpatterns = [
    path("keys/", views.my_keys, name="my_keys"),
    path("keys/request/", views.request_key, name="request_key"),
    path("keys/<int:pk>/", views.key_detail, name="key_detail"),
    path("keys/<int:pk>/reveal/", views.reveal_key, name="reveal_key"),
    path("keys/<int:pk>/rotate/", views.rotate_key, name="rotate_key"),
    path("keys/<int:pk>/revoke/", views.revoke_key, name="revoke_key"),
    path("keys/<int:pk>/cancel/", views.cancel_request, name="cancel_request"),
    path("keys/<int:pk>/unblock/", views.unblock_key, name="unblock_key"),
    path("approvals/", queue_views.approval_queue, name="approval_queue"),
    path("approvals/keys/<int:pk>/", views.decide_key, name="decide_key"),
    path("approvals/projects/<int:pk>/", views.decide_project, name="decide_project"),
    path("operations/", views.operations, name="operations"),
    path("operations/reconcile/", views.run_reconcile, name="run_reconcile"),
    path("operations/drift/fix/", drift_views.fix_drift, name="fix_drift"),
    path("operations/retry/<str:kind>/<int:pk>/", views.retry_request, name="retry_request"),
]

urlpatterns += [
    path("projects/", project_views.my_projects, name="my_projects"),
    path("projects/request/", project_views.request_project, name="request_project"),
    path("projects/<int:pk>/", project_views.project_detail, name="project_detail"),
    path("projects/<int:pk>/reveal/", project_views.reveal_project, name="reveal_project"),
    path("projects/<int:pk>/end/", project_views.end_project, name="end_project"),
    path("projects/<int:pk>/fulfil/", project_views.fulfil_project, name="fulfil_project"),
    path(
        "projects/<int:pk>/teardown-done/", project_views.confirm_teardown, name="confirm_teardown"
    ),
]
