"""Cheaper ``get_FOO_display()`` for models whose lists show many rows.

Django's own builds a dict of every choice on each call, hashing each lazily translated label
(a translation lookup per choice, per row). This keeps one dict per field; the label stays
lazy, so it is still translated into the language of the request that renders it.
"""

from __future__ import annotations

import functools


@functools.cache
def _labels(field) -> dict:
    return dict(field.flatchoices)


class ChoiceLabels:
    """Mix into a model before ``models.Model``; choice values must be hashable (they are)."""

    def _get_FIELD_display(self, field):  # noqa: N802 (Django's name)
        value = getattr(self, field.attname)
        return _labels(field).get(value, value)
