"""What the tuning project list can be searched, filtered and sorted by."""

from __future__ import annotations

from keys.lists import requests_for
from portal.lists import ListQuery


def projects_for(user) -> ListQuery:
    return requests_for(user, ["name", "purpose"])
