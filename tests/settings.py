"""Test settings: the real services on this machine (PostgreSQL, Redis), overridable by env."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault(
    "SECRET_KEY", "test-secret-key-not-for-production-0123456789-abcdefghijklmnop"
)
os.environ.setdefault("SECRETS_FERNET_KEY", "v3bYF3Qm1m7l0mHc4S2nX8bYz5Ww1bN0m8rP8k3d2aE=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("PROVISION_RETRY_BASE_SECONDS", "1")

from portal.settings import *  # noqa: E402,F403

# Plain static storage: tests do not run collectstatic.
WHITENOISE_USE_FINDERS = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STATIC_ROOT = None  # WhiteNoise serves from the finders in tests
# Each test process keeps its own cache: a shared Redis cache would outlive the test database
# (and clearing it would clear the broker's queues in the same Redis database).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Cost figures are not cached across tests (ids repeat in new test databases);
# tests/test_costs_page_cache.py turns the cache on.
COSTS_PAGE_CACHE_SECONDS = 0
# Pages are cached as in production (one process here, so the local memory cache is shared).
NAV_CACHE_SECONDS = 15
# The API's rate-limit counters: on the real Redis, as in production; a prefix per test run,
# since user ids restart with each new test database.
CACHES["api"] = {
    "BACKEND": "portal.cache.RedisCache",
    "LOCATION": REDIS_URL,  # noqa: F405
    "KEY_PREFIX": f"api-test-{os.getpid()}",
}
