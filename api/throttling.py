"""Rate limits per identity (user or service), counted in the shared ``api`` cache (Redis)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from ninja.throttling import AuthRateThrottle


class IdentityRateThrottle(AuthRateThrottle):
    """``API_RATE_LIMIT`` requests per identity; over it, 429 with ``Retry-After``."""

    scope = "identity"

    def __init__(self) -> None:
        self.cache = caches["api"]
        super().__init__(settings.API_RATE_LIMIT)

    def allow_request(self, request) -> bool:
        self.num_requests, self.duration = self.parse_rate(settings.API_RATE_LIMIT)
        return super().allow_request(request)

    def get_cache_key(self, request) -> str:
        return f"api_throttle_{request.auth.key}"
