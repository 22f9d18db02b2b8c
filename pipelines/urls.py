from django.urls import path

from . import views

urlpatterns = [
    path("pipelines/", views.identity_list, name="pipeline_identities"),
    path("pipelines/new/", views.request_identity, name="request_pipeline_identity"),
    path("pipelines/<int:pk>/", views.identity_detail, name="pipeline_identity"),
    path("pipelines/<int:pk>/disable/", views.disable_identity, name="disable_pipeline_identity"),
    path("approvals/pipelines/<int:pk>/", views.decide_identity, name="decide_pipeline_identity"),
]
