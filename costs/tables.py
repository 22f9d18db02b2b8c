"""A table on a cost dashboard: one queryset, shown paginated and exported whole as CSV."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from portal import csv_safe
from portal.pagination import Paginator

from . import periods

PAGE_SIZE = 10


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"  # text | money | int | pct | month | period (a LiteLLM budget_duration)

    @property
    def numeric(self) -> bool:
        return self.kind in ("money", "int", "pct")


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: Iterable  # a values() queryset (paginated in SQL) or a short list
    decorate: Callable[[dict], dict] | None = None
    page_size: int = PAGE_SIZE
    limit: int | None = None  # a bounded table (top N): no pagination
    note: str = ""
    empty: str = ""  # what an empty table means (default: no spend in this period)
    page: object = field(default=None, init=False)

    def paginate(self, number) -> Table:
        rows = self.rows[: self.limit] if self.limit else self.rows
        if self.limit:
            page = Paginator(list(rows), self.limit).get_page(1)
        else:
            page = Paginator(rows, self.page_size).get_page(number)
        if self.decorate:
            page.object_list = [self.decorate(dict(r)) for r in page.object_list]
        self.page = page
        return self

    @property
    def page_param(self) -> str:
        return f"{self.name}_page"

    def rows_html(self) -> str:
        """The page's ``<tr>`` rows (the template's cell logic in Python: a large table is
        rendered several times faster than with a template tag per cell)."""
        from keys.models import VirtualKey
        from portal.templatetags.portal_ui import money, num

        periods = dict(VirtualKey.BudgetPeriod.choices)

        out = []
        for row in self.page.object_list:
            cells = []
            for column in self.columns:
                value = row.get(column.key)
                if column.kind == "money":
                    cells.append(format_html('<td class="num">{}</td>', money(value)))
                elif column.kind == "pct":
                    level = (
                        ""
                        if value is None
                        else " over"
                        if value >= 100
                        else " near"
                        if value >= 80
                        else ""
                    )
                    text = "—" if value is None else f"{value} %"
                    cells.append(format_html('<td class="num{}">{}</td>', level, text))
                elif column.kind == "int":
                    cells.append(format_html('<td class="num">{}</td>', num(value or 0)))
                elif column.kind == "period":
                    # "30d" is LiteLLM's word (kept in the CSV); a reader sees "per month".
                    label = periods.get(value, value) if value is not None else "—"
                    cells.append(format_html("<td>{}</td>", label))
                else:
                    cells.append(format_html("<td>{}</td>", "—" if value is None else value))
            out.append(mark_safe("<tr>" + "".join(cells) + "</tr>"))  # noqa: S308 (escaped)
        return mark_safe("\n".join(out))  # noqa: S308 (each cell escaped above)

    def iter_all(self):
        rows = self.rows[: self.limit] if self.limit else self.rows
        iterator = rows.iterator(chunk_size=2000) if hasattr(rows, "iterator") else rows
        for row in iterator:
            yield self.decorate(dict(row)) if self.decorate else row


class LazyRows:
    """Rows from ``load()`` (a list), read only when a table is shown or exported."""

    def __init__(self, load: Callable[[], list]):
        self.load = load
        self._rows: list | None = None

    @property
    def rows(self) -> list:
        if self._rows is None:
            self._rows = list(self.load())
        return self._rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def __iter__(self):
        return iter(self.rows)


def _csv_value(value, kind: str):
    if value is None:
        return ""
    if kind == "month" and isinstance(value, datetime.date):
        return value.strftime("%Y-%m")
    if isinstance(value, Decimal):
        return f"{value:.6f}" if kind == "money" else str(value)
    return value


def csv_response(table: Table, filename: str) -> StreamingHttpResponse:
    writer = csv_safe.Writer()  # formula-like text is neutralised (portal/csv_safe.py)

    def rows():
        # The UTF-8 byte order mark: Excel then reads Japanese names correctly.
        yield "\ufeff" + writer.writerow([c.key for c in table.columns])
        for row in table.iter_all():
            yield writer.writerow([_csv_value(row.get(c.key), c.kind) for c in table.columns])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def with_percent(budget_key: str, spend_key: str = "spend", out: str = "pct"):
    def decorate(row: dict) -> dict:
        row[out] = periods.percent(row.get(spend_key), row.get(budget_key))
        return row

    return decorate
