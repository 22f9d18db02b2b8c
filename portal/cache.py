"""Django's Redis cache backend, with one redis-py client per connection pool.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every cache call,
and redis-py fills its table of response callbacks in that constructor each time: a tenth of
a millisecond of CPU per call, several calls per page (session, navigation, panels). A client
is safe to share between threads; the pool under it is what Django already keeps.
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


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


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient  # the client class Django's backend instantiates
