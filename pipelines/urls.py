from django.urls import path

from . import views

urlpatterns = [
    path("pipelines/<int:pk>/", views.identity_detail, name="pipeline_identity"),
    path("approvals/pipelines/<int:pk>/", views.decide_identity, name="decide_pipeline_identity"),
]
