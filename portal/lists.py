"""Search, filters and sorting for a list page, read from the query string.

A list declares what it offers; unknown values are ignored (never an error), so a stale or
hand-edited link shows the unfiltered list rather than failing."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet
from django.utils.html import format_html_join
from django.utils.safestring import SafeString


@dataclass
class Filter:
    name: str
    label: str
    lookup: str
    choices: list[tuple[str, str]]  # (value, label)


@dataclass
class ListQuery:
    search_fields: list[str]
    filters: list[Filter]
    sorts: dict[str, tuple[str, list[str]]]  # key → (label, order_by)
    default_sort: str
    values: dict = field(default_factory=dict)

    def read(self, request) -> dict:
        """The search, filters and sort the query string asks for (unknown values dropped)."""
        self.values = {"q": (request.GET.get("q") or "").strip()[:100]}
        for flt in self.filters:
            value = request.GET.get(flt.name, "")
            if value in {v for v, _label in flt.choices}:
                self.values[flt.name] = value
        sort = request.GET.get("sort", "")
        self.values["sort"] = sort if sort in self.sorts else self.default_sort
        return self.values

    def apply(self, request, qs: QuerySet) -> QuerySet:
        values = self.read(request)
        if values["q"] and self.search_fields:
            qs = qs.filter(
                reduce(or_, (Q(**{f"{f}__icontains": values["q"]}) for f in self.search_fields))
            )
        for flt in self.filters:
            if flt.name in values and flt.lookup:  # without a lookup the page applies it
                qs = qs.filter(**{flt.lookup: values[flt.name]})
        return qs.order_by(*self.sorts[values["sort"]][1])

    @property
    def active(self) -> bool:
        return any(v for k, v in self.values.items() if k != "sort")

    def _options(self, choices, selected: str) -> SafeString:
        """``<option>`` elements, the selected one marked (rendered here: a template tag per
        option made the controls a good part of a list page's cost)."""
        return format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if value == selected else "", label) for value, label in choices),
        )

    def filter_options(self) -> list[tuple[Filter, SafeString]]:
        return [(f, self._options(f.choices, self.values.get(f.name, ""))) for f in self.filters]

    def sort_options(self) -> SafeString:
        return self._options(
            ((key, label) for key, (label, _order) in self.sorts.items()), self.values.get("sort")
        )
