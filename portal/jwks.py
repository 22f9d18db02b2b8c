"""A token issuer's published signing keys: its OpenID metadata document names the
``jwks_uri``; both are cached; an unknown ``kid`` refetches the keys (the issuer rotated
them), at most once per ``refetch_seconds`` per source, so tokens with made-up kids cannot make
the portal hammer the issuer.

Shared by the CI token exchange (``pipelines/oidc.py``) and the Teams bot
(``approvals/teams.py``). The keys come back as published (JWK dicts), so a caller can read
more than the key, such as the Bot Framework's ``endorsements``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import httpx
from django.core.cache import cache

log = logging.getLogger(__name__)


class KeysUnavailable(Exception):
    """The metadata or the keys could not be fetched, or are not what an issuer publishes."""


class UnknownKey(Exception):
    """No published key has this ``kid``, even after a refetch."""


@dataclass(frozen=True)
class KeySource:
    """Where one issuer publishes its keys, and how long the portal trusts what it read."""

    metadata_url: str
    issuer: str | None  # the metadata's ``issuer`` must be this (None: not checked)
    cache_seconds: int
    refetch_seconds: int
    timeout: float
    allow_http: bool = False
    namespace: str = "jwks"

    def _cache_key(self, kind: str) -> str:
        digest = hashlib.sha256(self.metadata_url.encode()).hexdigest()[:32]
        return f"{self.namespace}:{kind}:{digest}"

    def _get_json(self, url: str) -> dict:
        if not url.startswith("https://") and not self.allow_http:
            raise KeysUnavailable("The issuer's metadata is not served over HTTPS.")
        try:
            response = httpx.get(url, timeout=self.timeout)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks fetch failed", extra={"url": url, "error": str(exc)})
            raise KeysUnavailable("The issuer's keys could not be fetched.") from None
        if not isinstance(data, dict):
            raise KeysUnavailable("The issuer's metadata is not a JSON object.")
        return data

    def jwks_uri(self) -> str:
        """The ``jwks_uri`` from the metadata document (cached)."""
        key = self._cache_key("discovery")
        uri = cache.get(key)
        if uri is None:
            doc = self._get_json(self.metadata_url)
            issuer_ok = self.issuer is None or (
                str(doc.get("issuer", "")).rstrip("/") == self.issuer.rstrip("/")
            )
            if not issuer_ok or not doc.get("jwks_uri"):
                raise KeysUnavailable("The issuer's discovery document is invalid.")
            uri = str(doc["jwks_uri"])
            cache.set(key, uri, timeout=self.cache_seconds)
        return uri

    def _fetch_keys(self) -> dict[str, dict]:
        data = self._get_json(self.jwks_uri())
        keys = {str(k.get("kid", "")): k for k in data.get("keys", []) if isinstance(k, dict)}
        cache.set(self._cache_key("jwks"), keys, timeout=self.cache_seconds)
        return keys

    def key(self, kid: str) -> dict:
        """The published JWK for ``kid``; an unknown kid refetches once per interval."""
        keys = cache.get(self._cache_key("jwks"))
        if (
            keys is None
            or kid not in keys
            and cache.add(self._cache_key("refetch"), 1, timeout=self.refetch_seconds)
        ):
            keys = self._fetch_keys()
        jwk = keys.get(kid)
        if jwk is None:
            raise UnknownKey(kid)
        return jwk
