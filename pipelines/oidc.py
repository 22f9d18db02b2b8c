"""Verifying a CI job's OIDC token: discovery, JWKS (``portal/jwks.py``: cached, refetched
once on an unknown ``kid``), signature, ``iss``, ``exp``/``nbf``/``iat`` with a small leeway.

Only issuers a pipeline identity names are ever fetched: the token's ``iss`` is read unverified
first and must be one of them, so a token cannot make the portal call an arbitrary URL.
Audience and claims are checked against the identity (``exchange.py``).
"""

from __future__ import annotations

import json

import jwt
from django.conf import settings

from portal.jwks import KeySource, KeysUnavailable, UnknownKey

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class TokenError(Exception):
    """The token is refused: ``outcome`` is one of ``PipelineExchange.Outcome``."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def _source(issuer: str) -> KeySource:
    return KeySource(
        metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        issuer=issuer,
        cache_seconds=settings.PIPELINES_JWKS_CACHE_SECONDS,
        refetch_seconds=settings.PIPELINES_JWKS_REFETCH_SECONDS,
        timeout=settings.PIPELINES_ISSUER_TIMEOUT,
        allow_http=settings.PIPELINES_ALLOW_HTTP_ISSUERS,
        namespace="pipelines",
    )


def signing_key(issuer: str, kid: str, alg: str):
    """The issuer's public key for ``kid`` (an unknown kid refetches the JWKS, rate-limited:
    ``portal/jwks.py``)."""
    try:
        jwk = _source(issuer).key(kid)
    except KeysUnavailable as exc:
        raise TokenError("issuer-unavailable", str(exc)) from None
    except UnknownKey:
        raise TokenError(
            "bad-signature", "The token's signing key (kid) is not the issuer's."
        ) from None
    try:
        return jwt.PyJWK(jwk, algorithm=alg).key
    except jwt.PyJWTError:
        raise TokenError("bad-signature", "The issuer's key cannot verify this token.") from None


def unverified_issuer(token: str) -> tuple[str, dict]:
    """The token's ``iss`` and header, read without verification (to pick the keys)."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenError("malformed", "The subject token is not a JWT.") from None
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise TokenError("malformed", "The subject token has no issuer.")
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
        raise TokenError("bad-signature", "The token's algorithm or key id is not accepted.")
    return iss, header


def verify(token: str, issuer: str, header: dict) -> dict:
    """The token's verified claims: signature by the issuer's key, ``iss``, time claims."""
    key = signing_key(issuer, header["kid"], header["alg"])
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[header["alg"]],
            issuer=issuer,
            leeway=settings.PIPELINES_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("expired", "The subject token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("expired", "The subject token is not valid yet (nbf/iat).") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad-signature", "The token's signature is invalid.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError("malformed", f"The token lacks the {exc.claim} claim.") from None
    except jwt.PyJWTError:
        raise TokenError("malformed", "The subject token is malformed.") from None


def token_id(claims: dict) -> str | None:
    """The token's unique id: ``jti`` (GitHub, Azure DevOps, GitLab, Kubernetes) or Entra's
    ``uti``."""
    value = claims.get("jti") or claims.get("uti")
    return str(value)[:200] if value else None


def describe(claims: dict) -> str:
    """The claims' names (never their values): for logs."""
    return json.dumps(sorted(claims))
