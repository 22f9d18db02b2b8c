"""Django's paginator, without the COUNT query when the first page holds the whole list."""

from __future__ import annotations

from django.conf import settings
from django.core import paginator


class Paginator(paginator.Paginator):
    """Most lists people open fit on their first page (a developer's keys, a lead's queue on
    a quiet day): that page is read with one row more than it shows, and when the extra row
    is not there the rows read are the count. Other pages count as Django does."""

    def get_page(self, number):
        if number in (None, "", "1", 1) and "count" not in self.__dict__ and not self.orphans:
            rows = list(self.object_list[: self.per_page + 1])
            if len(rows) <= self.per_page:
                self.count = len(rows)  # fills the cached property
            return self._get_page(rows[: self.per_page], 1, self)
        return super().get_page(number)


def page_of(request, object_list):
    """The page of ``object_list`` the request asks for (``?page=``), PAGE_SIZE rows."""
    return Paginator(object_list, settings.PAGE_SIZE).get_page(request.GET.get("page"))
