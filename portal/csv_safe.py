"""The one rule for every CSV the portal and its CLI write: no cell a spreadsheet runs as a formula.

OWASP, "CSV Injection": a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return may be read as a formula by Excel, LibreOffice or Google Sheets (``=HYPERLINK(...)``,
DDE ``=cmd|' /C calc'!A0``). Such a text cell is written with a leading single quote, which the
spreadsheet shows as text and does not evaluate. Numbers stay numbers: ``int``, ``float`` and
``Decimal`` values, and text that is only a number (``-12.50``, a negative adjustment the portal
formatted itself), are written as they are; a number cannot be a formula.

Identifiers that users choose (a key's or a project's name) are refused with such a first
character where they are entered (:func:`refuse_formula_start`); the CSV rule is for everything
else (reasons, display names, model names LiteLLM reports) and for rows stored before.

Only the standard library: the command-line client imports this module too.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """``value`` as a CSV cell: formula-like text gets a leading ``'``; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def is_safe(text: str) -> bool:
    """Whether a cell read back from a CSV is inert (the check the tests make)."""
    return not text.startswith(FORMULA_START) or bool(_NUMBER.fullmatch(text))


def row(values: Iterable[Any]) -> list[Any]:
    return [cell(v) for v in values]


class _Echo:
    """A file that hands back what is written: ``writerow`` then returns the line."""

    def write(self, value: str) -> str:
        return value


class Writer:
    """``csv.writer`` whose rows pass through :func:`cell`. Without ``out``, ``writerow``
    returns the line (for streaming responses)."""

    def __init__(self, out: Any = None, **options: Any) -> None:
        self._writer = csv.writer(out if out is not None else _Echo(), **options)

    def writerow(self, values: Iterable[Any]) -> Any:
        return self._writer.writerow(row(values))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for values in rows:
            self.writerow(values)


def refuse_formula_start(value: str) -> None:
    """A validator for identifiers users choose: no formula character first."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    if isinstance(value, str) and value.startswith(FORMULA_START):
        raise ValidationError(
            _("Start with a letter or a digit, not %(char)s.") % {"char": repr(value[0])},
            code="formula_start",
        )


__all__ = ["FORMULA_START", "Writer", "cell", "is_safe", "refuse_formula_start", "row"]
