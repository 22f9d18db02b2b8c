"""The rows of the tuning project list, rendered in Python (as ``keys.rows``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from keys.rows import labels, secret_waiting_badge
from portal.templatetags.portal_ui import day

from .models import TuningProject


def my_projects(projects: Iterable[TuningProject]) -> SafeString:
    projects = list(projects)
    status = labels(projects, "get_status_display")
    waiting = secret_waiting_badge()
    return format_html_join(
        "\n",
        '<tr><td><a href="{}">{}</a><br><span class="muted">{}</span></td><td>{}</td>'
        '<td><span class="status {}">{}</span>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                p.get_absolute_url(),
                p.name,
                p.project_name,
                p.department.name,
                p.status,
                status[p.status],
                waiting if p.secret_waiting else "",
                format_html("<code>{}</code>", p.public_key) if p.public_key else "",
                day(p.expires_at),
            )
            for p in projects
        ),
    )
