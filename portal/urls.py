from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from api.main import urlpatterns as api_urls
from tenants import entra

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("audit/", views.audit_log, name="audit_log"),
    path("accounts/oidc/<str:provider_id>/login/", entra.login, name="openid_connect_login"),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        entra.callback,
        name="openid_connect_callback",
    ),
    path("accounts/", include("allauth.urls")),
    # The language picker works on the sign-in page too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("tenants.urls")),
    path("", include("approvals.urls")),
    path("", include("keys.urls")),
    path("costs/", include("costs.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
]

if settings.DEMO_MODE:
    from tenants import demo

    urlpatterns.insert(0, path("demo/sign-in/", demo.demo_sign_in, name="demo_sign_in"))
