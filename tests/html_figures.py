"""Reading figures off rendered pages, as a person reads them: the text of an element by id,
a table's rows by its headings, money as shown (``USD 1,234.57`` → ``Decimal("1234.57")``).
No tests here."""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser

VOID = {"br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"}


class _Element(HTMLParser):
    """The text inside the element whose id is ``wanted`` (and the rows of its tables)."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted, self.depth, self.found = wanted, 0, False
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            if tag == "br":  # a line break reads as a space
                self.handle_data(" ")
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.wanted:
            self.depth, self.found = 1, True
        if self.depth and tag == "tr":
            self.rows.append([])
        if self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in VOID or not self.depth:
            return
        if tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)
            if self.cell is not None:
                self.cell.append(data)


def _parse(html: str, element_id: str) -> _Element:
    parser = _Element(element_id)
    parser.feed(html)
    assert parser.found, f"no element #{element_id} on the page"
    return parser


def text(html: str, element_id: str) -> str:
    return " ".join("".join(_parse(html, element_id).text).split())


def rows(html: str, element_id: str) -> list[dict[str, str]]:
    """The rows of the table inside ``#element_id``, each as {heading: cell text}."""
    head, *body = _parse(html, element_id).rows
    return [dict(zip(head, r, strict=False)) for r in body]


def money(shown: str) -> Decimal:
    """The one amount in ``shown`` (``USD 45.33 (11 %)`` → 45.33)."""
    found = re.findall(r"-?\d[\d,]*\.\d+|-?\d[\d,]*", shown.replace("USD", ""))
    assert found, f"no amount in {shown!r}"
    return Decimal(found[0].replace(",", ""))
