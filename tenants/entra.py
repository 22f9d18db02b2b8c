"""Sign-in with Microsoft Entra ID through allauth's OpenID Connect provider.

Two things on top of allauth: the ID token's signature is always verified (allauth skips it
for tokens fetched directly from the token endpoint), and only configured tenants get in
(the tenant-specific issuer already refuses others; the ``tid`` check also covers
``ENTRA_ALLOWED_TENANTS`` with several tenants).
At every sign-in the token's claims update the user and their departments and roles.
"""

from __future__ import annotations

import logging

import jwt
from allauth.account.signals import user_logged_in
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
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
TENANT_PLACEHOLDER = "{tenantid}"


class EntraOAuth2Adapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app, id_token: str) -> dict:
        """Verify signature, audience, expiry and issuer. With several allowed tenants the
        authority is ``organizations``, whose discovery issuer holds a ``{tenantid}``
        placeholder: the token's ``tid`` must be an allowed tenant, and the issuer must be
        exactly that tenant's."""
        issuer = self.openid_config["issuer"]
        if TENANT_PLACEHOLDER in issuer:
            try:
                tenant = jwt.decode(id_token, options={"verify_signature": False}).get("tid")
            except jwt.PyJWTError as exc:
                raise OAuth2Error("Invalid id_token") from exc
            if not isinstance(tenant, str) or tenant not in settings.ENTRA_ALLOWED_TENANTS:
                raise OAuth2Error("id_token from a tenant that is not allowed")
            issuer = issuer.replace(TENANT_PLACEHOLDER, tenant)
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=issuer,
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
def _entra_view(view_class):
    @login_not_required
    def view(request, provider_id):
        try:
            return view_class.adapter_view(EntraOAuth2Adapter(request, provider_id))(request)
        except SocialApp.DoesNotExist as exc:
            raise Http404 from exc

    return view


login = _entra_view(OAuth2LoginView)
callback = _entra_view(OAuth2CallbackView)


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
            if not _same_tenant(sociallogin.user, tenant):
                _refuse(request, "tenant differs from the account's", sociallogin.user)
            return
        # The directory sync may have created this person already (pending, never signed in):
        # sign in as that user rather than making a second one. Only the same person: the
        # same object id in the same tenant, and an account nobody has switched off.
        from .models import User

        oid = claims.get("oid")
        pending = User.objects.filter(entra_oid=oid).first() if oid else None
        if pending is None:
            return
        if not _same_tenant(pending, tenant):
            _refuse(request, "object id known from another tenant", pending)
        if not pending.is_active:
            _refuse(request, "account deactivated", pending)
        sociallogin.user = pending
        sociallogin.save(request, connect=True)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        claims = id_token_claims(sociallogin)
        # The object id, not the UPN: a UPN (and e-mail) can pass to a new person when
        # someone leaves, an object id never does.
        user.username = claims["oid"][:150]
        user.entra_oid = claims["oid"]
        return user


def _same_tenant(user, tenant: str) -> bool:
    """A user's tenant is the one they last signed in from; a pending user (from the
    directory sync, which reads the home tenant) belongs to ENTRA_TENANT_ID."""
    known = user.entra_tenant_id or settings.ENTRA_TENANT_ID
    return not known or known == tenant


def _refuse(request, reason: str, user) -> None:
    log.warning("sign-in refused", extra={"reason": reason, "user_id": user.pk})
    raise ImmediateHttpResponse(
        render(request, "tenants/sign_in_refused.html", {"reason": reason}, status=403)
    )


@receiver(user_logged_in)
def update_from_claims(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is None:
        return
    apply_sign_in_claims(user, id_token_claims(sociallogin), request=request)
