"""Sign-in routes of the directory: Entra ID's OIDC login and callback, which stand before
allauth's own routes of the same names, and the demo sign-in page in demo mode."""

from django.conf import settings
from django.urls import path

from . import entra

urlpatterns = [
    path("accounts/oidc/<str:provider_id>/login/", entra.login, name="openid_connect_login"),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        entra.callback,
        name="openid_connect_callback",
    ),
]

if settings.DEMO_MODE:
    from . import demo

    urlpatterns.insert(0, path("demo/sign-in/", demo.demo_sign_in, name="demo_sign_in"))
