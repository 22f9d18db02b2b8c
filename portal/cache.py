"""Django's Redis cache backend, with one redis-py client per connection pool, that lets pages
work while Redis is away.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call,
and redis-py fills its table of response callbacks in that constructor each time: a tenth of
a millisecond of CPU per call, several calls per page (session, navigation, panels). A client
is safe to share between threads; the pool under it is what Django already keeps.

When Redis cannot be reached (a restart, a failover), reading a cached value is a miss and
writing one is skipped, logged at most every 30 s: every page is cached from PostgreSQL, so
the portal is slower but up, and a change is never refused because its cache could not be
told. ``add`` answers False (nothing was added: the JWKS refetch guard then refuses a refetch,
and a version is read as 0, which no cached page has). ``incr`` still raises: the API's rate
limit (``api/throttling.py``) decides what to do without its count.
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends import redis as django_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_said = [0.0]  # when the outage was last logged (monotonic)


def _or_miss(default):
    """Run the cache call; while Redis is unreachable, answer ``default(args)`` instead."""

    def wrap(method):
        @functools.wraps(method)
        def call(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except UNREACHABLE as exc:
                now = time.monotonic()
                if now - _said[0] > 30:
                    _said[0] = now
                    log.warning("cache unreachable: served without it", extra={"error": str(exc)})
                return default(*args, **kwargs)

        return call

    return wrap


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[object, object] = {}  # pool → client

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # Django's: one pool per server, kept
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client

    get = _or_miss(lambda key, default=None, *a, **k: default)(django_redis.RedisCacheClient.get)
    add = _or_miss(lambda *a, **k: False)(django_redis.RedisCacheClient.add)
    get_many = _or_miss(lambda keys, *a, **k: {})(django_redis.RedisCacheClient.get_many)
    has_key = _or_miss(lambda *a, **k: False)(django_redis.RedisCacheClient.has_key)
    set = _or_miss(lambda *a, **k: None)(django_redis.RedisCacheClient.set)
    set_many = _or_miss(lambda *a, **k: [])(django_redis.RedisCacheClient.set_many)
    touch = _or_miss(lambda *a, **k: False)(django_redis.RedisCacheClient.touch)
    delete = _or_miss(lambda *a, **k: False)(django_redis.RedisCacheClient.delete)
    delete_many = _or_miss(lambda *a, **k: None)(django_redis.RedisCacheClient.delete_many)


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient  # the client class Django's backend instantiates
