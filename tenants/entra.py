"""Sign-in with Microsoft Entra ID through allauth's OpenID Connect provider.

Two things on top of allauth: the ID token's signature is always verified (allauth skips it
for tokens fetched directly from the token endpoint), and only configured tenants get in
(the tenant-specific issuer already refuses others; the ``tid`` check also covers
``ENTRA_ALLOWED_TENANTS`` with several tenants).
At every sign-in the token's claims update the user and their departments and roles.
"""

from __future__ import annotations

import logging

from allauth.account.signals import user_logged_in
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.dispatch import receiver
from django.http import Http404
from django.shortcuts import render

from .services import apply_sign_in_claims

log = logging.getLogger(__name__)


class EntraOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class EntraProvider(OpenIDConnectProvider):
    oauth2_adapter_class = EntraOAuth2Adapter
    # allauth mounts URLs from the provider's package; keep the stock OIDC ones, overridden below.
    package = "allauth.socialaccount.providers.openid_connect"


# allauth's OIDC login/callback views build the stock adapter, not the provider's; these build
# ours so the browser flow verifies the ID token too. Mounted before allauth's URLs.
@login_not_required
def login(request, provider_id):
    try:
        return OAuth2LoginView.adapter_view(EntraOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as exc:
        raise Http404 from exc


@login_not_required
def callback(request, provider_id):
    try:
        return OAuth2CallbackView.adapter_view(EntraOAuth2Adapter(request, provider_id))(request)
    except SocialApp.DoesNotExist as exc:
        raise Http404 from exc


def id_token_claims(sociallogin) -> dict:
    data = sociallogin.account.extra_data or {}
    return data.get("id_token") or data


class EntraAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return True  # anyone in an allowed tenant; departments decide what they can do

    def pre_social_login(self, request, sociallogin) -> None:
        claims = id_token_claims(sociallogin)
        tenant = claims.get("tid", "")
        if tenant not in settings.ENTRA_ALLOWED_TENANTS:
            log.warning("sign-in refused: tenant not allowed", extra={"tid": tenant})
            raise ImmediateHttpResponse(
                render(request, "tenants/tenant_refused.html", {"tenant": tenant}, status=403)
            )
        if sociallogin.is_existing:
            return
        # The directory sync may have created this person already (pending, never signed in):
        # sign in as that user rather than making a second one.
        from .models import User

        oid = claims.get("oid")
        pending = User.objects.filter(entra_oid=oid).first() if oid else None
        if pending is not None:
            sociallogin.user = pending
            sociallogin.save(request, connect=True)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        claims = id_token_claims(sociallogin)
        user.username = (claims.get("preferred_username") or claims["oid"])[:150]
        user.entra_oid = claims["oid"]
        return user


@receiver(user_logged_in)
def update_from_claims(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is None:
        return
    apply_sign_in_claims(user, id_token_claims(sociallogin), request=request)
