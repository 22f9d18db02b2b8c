"""Rate limits per identity (user or service), counted in the shared ``api`` cache (Redis).

A fixed window per identity, counted with the cache's atomic ``incr`` (Redis INCR), so N web
processes and threads share one count. Plugged into django-ninja's throttling, which answers
429 with ``Retry-After``. While Redis cannot be reached there is no count, and the API answers
429 with ``Retry-After: 5`` rather than serve requests nobody counts.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import caches
from ninja.throttling import BaseThrottle

from portal.cache import UNREACHABLE

log = logging.getLogger(__name__)
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UNAVAILABLE_RETRY_SECONDS = 5.0


def parse_rate(rate: str) -> tuple[int, int]:
    """``120/m`` → (120, 60)."""
    count, unit = rate.split("/", 1)
    return int(count), PERIODS[unit.strip()[:1]]


def hit(key: str, rate: str) -> tuple[bool, float]:
    """Count one request for ``key`` in the current window of ``rate``: (allowed, seconds
    until the window ends)."""
    limit, duration = parse_rate(rate)
    now = time.time()
    window = int(now // duration)
    cache_key = f"api_rate:{key}:{window}"
    cache = caches["api"]
    try:
        cache.add(cache_key, 0, timeout=duration + 1)
        count = cache.incr(cache_key)
    except (*UNREACHABLE, ValueError):  # Redis away: no count, so no request is waved through
        log.warning("rate limit unavailable: refusing for now", extra={"key": key})
        return False, UNAVAILABLE_RETRY_SECONDS
    return count <= limit, duration - (now % duration)


class IdentityRateThrottle(BaseThrottle):
    """``API_RATE_LIMIT`` (e.g. ``120/m``) requests per identity and window."""

    def __init__(self) -> None:
        self._local = threading.local()

    def allow_request(self, request) -> bool:
        allowed, self._local.wait = hit(request.auth.key, settings.API_RATE_LIMIT)
        return allowed

    def wait(self) -> float:
        return getattr(self._local, "wait", 1.0)
