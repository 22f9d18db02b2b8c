"""Sign-in routes of the directory: Entra ID's OIDC login and callback, which stand before
allauth's own routes of the same names, and the demo sign-in page (404 outside demo mode,
so the routes are the same whatever the settings were when this module was first imported)."""

from django.urls import path

from . import demo, entra, languages

urlpatterns = [
    path("demo/sign-in/", demo.demo_sign_in, name="demo_sign_in"),
    path("accounts/oidc/<str:provider_id>/login/", entra.login, name="openid_connect_login"),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        entra.callback,
        name="openid_connect_callback",
    ),
    path("i18n/setlang/", languages.set_language, name="set_language"),
]
