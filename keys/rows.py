"""The rows of the key and project lists and of the approval queue, rendered in Python.

These are the pages people open most; a template tag or variable per cell made the rows most
of each page's cost (as for the cost tables, ``costs.tables``). Each function returns the
``<tr>`` elements of one page, with exactly the markup the templates had; labels are
translated once per page, not once per row.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from portal.templatetags.portal_ui import day

from .models import VirtualKey


def labels(rows: Iterable, method: str) -> dict[str, str]:
    """A display method's text for each value seen (e.g. a status's label), asked once."""
    labels: dict[str, str] = {}
    for row in rows:
        labels.setdefault(row.status, getattr(row, method)())
    return labels


def secret_waiting_badge() -> SafeString:
    """The "!" beside a request whose secret waits to be revealed, said in words too (phones
    show no tooltips)."""
    return format_html(
        ' <span class="secret-waiting"><span class="badge" aria-hidden="true">!</span> {}</span>',
        _("Secret waiting to be revealed"),
    )


def my_keys(keys: Iterable[VirtualKey]) -> SafeString:
    keys = list(keys)
    status = labels(keys, "get_status_display")
    service = format_html(' <span class="role">{}</span>', _("service"))
    waiting = secret_waiting_badge()
    return format_html_join(
        "\n",
        '<tr><td><a href="{}">{}</a>{}</td><td>{}</td>'
        '<td><span class="status {}">{}</span>{}</td><td>{}</td>'
        '<td class="num">{}{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                k.get_absolute_url(),
                k.name,
                service if k.kind == VirtualKey.Kind.SERVICE else "",
                k.department.name,
                k.status,
                status[k.status],
                waiting if k.secret_waiting else "",
                ", ".join(k.llm_models),
                localize(k.max_budget),
                f" / {k.get_budget_duration_display()}" if k.budget_duration else "",
                format_html("<code>sk-…{}</code>", k.secret_last4) if k.secret_last4 else "",
                day(k.expires_at),
            )
            for k in keys
        ),
    )
