"""Verifying a CI job's OIDC token: discovery, JWKS (cached, refetched once on an unknown
``kid``), signature, ``iss``, ``exp``/``nbf``/``iat`` with a small leeway.

Only issuers a pipeline identity names are ever fetched: the token's ``iss`` is read unverified
first and must be one of them, so a token cannot make the portal call an arbitrary URL.
Audience and claims are checked against the identity (``exchange.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging

import httpx
import jwt
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


class TokenError(Exception):
    """The token is refused: ``outcome`` is one of ``PipelineExchange.Outcome``."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def _cache_key(kind: str, issuer: str) -> str:
    return f"pipelines:{kind}:{hashlib.sha256(issuer.encode()).hexdigest()[:32]}"


def _get_json(url: str) -> dict:
    if not url.startswith("https://") and not settings.PIPELINES_ALLOW_HTTP_ISSUERS:
        raise TokenError("issuer-unavailable", "The issuer's metadata is not served over HTTPS.")
    try:
        response = httpx.get(url, timeout=settings.PIPELINES_ISSUER_TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("oidc fetch failed", extra={"url": url, "error": str(exc)})
        raise TokenError("issuer-unavailable", "The issuer's keys could not be fetched.") from None
    if not isinstance(data, dict):
        raise TokenError("issuer-unavailable", "The issuer's metadata is not a JSON object.")
    return data


def jwks_uri(issuer: str) -> str:
    """The issuer's ``jwks_uri`` from its discovery document (cached)."""
    key = _cache_key("discovery", issuer)
    uri = cache.get(key)
    if uri is None:
        doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer", "").rstrip("/") != issuer.rstrip("/") or not doc.get("jwks_uri"):
            raise TokenError("issuer-unavailable", "The issuer's discovery document is invalid.")
        uri = str(doc["jwks_uri"])
        cache.set(key, uri, timeout=settings.PIPELINES_JWKS_CACHE_SECONDS)
    return uri


def _fetch_keys(issuer: str) -> dict[str, dict]:
    data = _get_json(jwks_uri(issuer))
    keys = {str(k.get("kid", "")): k for k in data.get("keys", []) if isinstance(k, dict)}
    cache.set(_cache_key("jwks", issuer), keys, timeout=settings.PIPELINES_JWKS_CACHE_SECONDS)
    return keys


def signing_key(issuer: str, kid: str, alg: str):
    """The issuer's public key for ``kid``. An unknown kid refetches the JWKS (the issuer
    rotated its keys), at most once per ``PIPELINES_JWKS_REFETCH_SECONDS`` per issuer, so
    tokens with made-up kids cannot make the portal hammer the issuer."""
    keys = cache.get(_cache_key("jwks", issuer))
    if (
        keys is None
        or kid not in keys
        and cache.add(
            _cache_key("refetch", issuer), 1, timeout=settings.PIPELINES_JWKS_REFETCH_SECONDS
        )
    ):
        keys = _fetch_keys(issuer)
    jwk = keys.get(kid)
    if jwk is None:
        raise TokenError("bad-signature", "The token's signing key (kid) is not the issuer's.")
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
