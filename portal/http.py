"""Small helpers for reading request input safely: bad input is a 404, never a 500."""

from __future__ import annotations

from django.http import Http404

MAX_ID = 2**63 - 1  # PostgreSQL bigint


def id_or_404(value: object) -> int:
    """A primary key from a query or form value; anything that cannot be one is a 404."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < number <= MAX_ID:
        raise Http404
    return number
