from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("audit/", views.audit_log, name="audit_log"),
    path("", include("tenants.auth_urls")),  # before allauth: the same names, Entra's views
    path("accounts/", include("allauth.urls")),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("tenants.urls")),
    path("", include("approvals.urls")),
    path("", include("modelaccess.urls")),  # before /models/ of the catalogue
    path("", include("catalogue.urls")),
    path("", include("keys.urls")),
    path("", include("projects.urls")),
    path("", include("costs.approval_urls")),
    path("", include("pipelines.urls")),
    path("costs/", include("costs.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
]
