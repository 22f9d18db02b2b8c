from django.urls import path

from . import views

urlpatterns = [
    path("models/request/", views.request_access, name="model_access_request"),
    path("models/requests/<int:pk>/", views.access_detail, name="model_access_detail"),
    path("models/requests/<int:pk>/cancel/", views.cancel_access, name="model_access_cancel"),
    path("approvals/models/<int:pk>/", views.decide_access, name="decide_model_access"),
]
