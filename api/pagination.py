"""Cursor pages whose cursor is checked before it reaches the database.

django-ninja's ``CursorPagination`` decodes the base64 but lets its content through: an offset
out of range or a flag that is not a boolean raised pydantic's error (a 500), and a position
that is not a value of the ordering field (``p=\\x00``, ``p=not-a-date``) failed in PostgreSQL.
Here a cursor is refused with 400 unless every part is one the API could have made: no other
or repeated part, the offset in range, ``r`` a boolean, the position a value of the ordering
field (parsed by the model field itself), at most :data:`MAX_POSITION` characters, no NUL.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib import parse

import pydantic
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from ninja.errors import ValidationError as SchemaValidationError
from ninja.pagination import CursorPagination

from .problems import Problem

MAX_POSITION = 200
NOT_A_LINK = "Use the next or previous link of a page as it is."
NOT_A_POSITION = "The cursor's position is not one this list has."


def _invalid(detail: str) -> Problem:
    return Problem(400, "Invalid cursor", detail, type_="invalid-cursor")


class PortalCursor(CursorPagination):
    """``CursorPagination`` with a validated cursor; every list endpoint pages with it."""

    def paginate_queryset(self, queryset: QuerySet, pagination: Any, request, **params: Any):
        self._check(pagination.cursor, queryset)
        return super().paginate_queryset(queryset, pagination, request, **params)

    def _check(self, encoded: str | None, queryset: QuerySet) -> None:
        if not encoded:
            return
        try:
            text = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
            parts = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
        except (ValueError, binascii.Error) as exc:  # UnicodeError is a ValueError
            raise _invalid(NOT_A_LINK) from exc
        if set(parts) - set(self.Cursor.model_fields) or any(len(v) > 1 for v in parts.values()):
            raise _invalid(NOT_A_LINK)
        try:
            cursor = self.Cursor.model_validate(parts)
        except (pydantic.ValidationError, SchemaValidationError) as exc:
            raise _invalid(NOT_A_LINK) from exc
        if cursor.p is None:
            return
        if not cursor.p or len(cursor.p) > MAX_POSITION or "\x00" in cursor.p:
            raise _invalid(NOT_A_POSITION)
        field = queryset.model._meta.get_field(self._order_attribute)
        try:
            field.get_prep_value(field.to_python(cursor.p))
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            raise _invalid(NOT_A_POSITION) from exc
