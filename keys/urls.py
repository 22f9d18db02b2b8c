from django.urls import path

from . import drift_views, extension_views, views

urlpatterns = [
    path("keys/", views.my_keys, name="my_keys"),
    path("keys/request/", views.request_key, name="request_key"),
    path("keys/<int:pk>/", views.key_detail, name="key_detail"),
    path("keys/<int:pk>/reveal/", views.reveal_key, name="reveal_key"),
    path("keys/<int:pk>/rotate/", views.rotate_key, name="rotate_key"),
    path("keys/<int:pk>/revoke/", views.revoke_key, name="revoke_key"),
    path("keys/<int:pk>/cancel/", views.cancel_request, name="cancel_request"),
    path("keys/<int:pk>/unblock/", views.unblock_key, name="unblock_key"),
    path("keys/<int:pk>/extend/", extension_views.extend_key, name="extend_key"),
    path(
        "approvals/extensions/<int:pk>/",
        extension_views.decide_extension,
        name="decide_extension",
    ),
    path("approvals/keys/<int:pk>/", views.decide_key, name="decide_key"),
    path("operations/", views.operations, name="operations"),
    path("operations/reconcile/", views.run_reconcile, name="run_reconcile"),
    path("operations/drift/fix/", drift_views.fix_drift, name="fix_drift"),
    path("operations/drift/resolve/", drift_views.resolve_drift, name="resolve_drift"),
]
