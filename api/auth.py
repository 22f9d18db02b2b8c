"""Bearer authentication with Entra ID access tokens issued for the portal's own API.

Checks, in order: signature against the tenant's JWKS (RS256 only), expiry and not-before,
audience (``API_AUDIENCES``), issuer and tenant (``tid`` one of ``ENTRA_ALLOWED_TENANTS``, and
the issuer that tenant's), then who it is: a user token needs the ``API_SCOPE`` delegated scope
and maps ``oid`` to a portal user (their web roles apply unchanged); an app token
(client credentials: ``idtyp=app``, or ``roles`` without ``scp``) needs the ``API_APP_ROLE``
app role and a registered, active service identity for its ``azp``/``appid``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from tenants.models import User

from .models import ServiceIdentity
from .problems import Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who is calling: a person, or a service identity acting through its portal user."""

    user: User
    service: ServiceIdentity | None = None

    @property
    def key(self) -> str:
        return f"svc:{self.service.pk}" if self.service else f"user:{self.user.pk}"

    def __str__(self) -> str:  # ninja's throttles key on str(request.auth)
        return self.key


@functools.cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10)


def _issuers(tid: str) -> set[str]:
    host = settings.ENTRA_AUTHORITY_HOST.rstrip("/")
    return {f"{host}/{tid}/v2.0", f"https://sts.windows.net/{tid}/"}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Invalid access token", detail, type_="invalid-token")


def decode(token: str) -> dict:
    """The verified claims of an access token for this API, or ``Problem`` 401."""
    if not settings.API_AUDIENCES:
        raise Problem(503, "API sign-in is not configured", "ENTRA_CLIENT_ID is not set.")
    try:
        signing_key = _jwks_client(settings.API_JWKS_URL).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=settings.API_AUDIENCES,
            options={"require": ["exp", "iat", "iss", "aud", "tid"]},
            leeway=30,
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("The token has expired.") from None
    except jwt.InvalidAudienceError:
        raise _unauthorized("The token is not for this API (audience).") from None
    except jwt.PyJWKClientError as exc:
        log.warning("jwks lookup failed", extra={"error": str(exc)})
        raise _unauthorized("The token's signing key is not the tenant's.") from None
    except jwt.PyJWTError:
        raise _unauthorized("The token is malformed or its signature is invalid.") from None
    tid = claims["tid"]
    if tid not in settings.ENTRA_ALLOWED_TENANTS or claims["iss"] not in _issuers(tid):
        raise _unauthorized("The token is from another tenant.")
    return claims


def identify(claims: dict) -> Identity:
    """Map verified claims to a portal user or a registered service identity (else 403)."""
    is_app = claims.get("idtyp") == "app" or ("scp" not in claims and "roles" in claims)
    if is_app:
        app_id = claims.get("azp") or claims.get("appid") or ""
        if settings.API_APP_ROLE and settings.API_APP_ROLE not in claims.get("roles", []):
            raise Problem(403, "Missing app role", f"The token lacks {settings.API_APP_ROLE}.")
        service = (
            ServiceIdentity.objects.select_related("user", "department")
            .filter(app_id=app_id, tenant_id=claims["tid"], is_active=True)
            .first()
        )
        if service is None or not service.user.is_active:
            raise Problem(
                403,
                "Unknown service principal",
                "This application is not registered as a service identity of the portal.",
                type_="unknown-service-principal",
            )
        return Identity(user=service.user, service=service)
    scopes = (claims.get("scp") or "").split()
    if settings.API_SCOPE not in scopes:
        raise Problem(403, "Missing scope", f"The token lacks the {settings.API_SCOPE} scope.")
    user = User.objects.filter(entra_oid=claims.get("oid") or "-", is_active=True).first()
    if user is None:
        raise Problem(
            403,
            "Unknown user",
            "No active portal account for this user: sign in to the portal once.",
            type_="unknown-user",
        )
    return Identity(user=user)


class EntraBearer(HttpBearer):
    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"  # noqa: N815 (ninja's attribute name)

    def authenticate(self, request: HttpRequest, token: str) -> Identity:
        identity = identify(decode(token))
        request.user = identity.user  # the same permission checks as the pages
        return identity

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            raise _unauthorized("Send an Entra ID access token: Authorization: Bearer <token>.")
        return super().__call__(request)
