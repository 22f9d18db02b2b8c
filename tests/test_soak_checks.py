"""The soak's own instruments (bench/soak_checks.py), checked on known inputs."""

import sys

from .servers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))

from soak_checks import duplicate_aliases  # noqa: E402


def test_a_key_listed_on_two_pages_is_not_a_second_key():
    """LiteLLM's key list is paged newest first: a key made while the pages are read pushes
    the last key of one page onto the next, so one token is listed twice."""
    once_twice = [{"key_alias": "a", "token": "t1"}, {"key_alias": "a", "token": "t1"}]
    assert duplicate_aliases(once_twice) == []
    assert duplicate_aliases([*once_twice, {"key_alias": "a", "token": "t2"}]) == ["a"]
