"""The home page's panels. Apps above ``portal`` register what each role should see first
(from their ``AppConfig.ready()``), so this module imports none of them.

The panels, rendered, are cached per user and language for NAV_CACHE_SECONDS under the
navigation's version and the user's spend version (``context_processors``): they go up when a
request, a stage, a vote, a delegation or a membership is saved and when the spend the panels
show is ingested, so a change shows at once; the seconds bound what a change outside the ORM
can leave stale (a key crossing into "expires soon", "waiting 3 minutes" becoming 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from portal.days import local_today, utc_today

from . import context_processors


@dataclass(frozen=True)
class Panel:
    order: int
    template: str
    build: Callable  # (user) -> dict | None; None: nothing to show this user


PANELS: list[Panel] = []


def register(order: int, template: str, build: Callable) -> None:
    if all(p.template != template for p in PANELS):
        PANELS.append(Panel(order, template, build))
        PANELS.sort(key=lambda p: p.order)


def panels_for(user) -> SafeString:
    """The panels this user sees, rendered (each template gets its ``data``)."""
    key = (
        f"home:html:{user.pk}:{int(user.is_infra)}:{get_language()}:{utc_today()}:{local_today()}:"
        f"{context_processors.version_for(user)}:{context_processors.spend_version_for(user)}"
    )
    html = cache.get(key)
    if html is None:
        shown = []
        for panel in PANELS:
            data = panel.build(user)
            if data is not None:
                shown.append(render_to_string(panel.template, {"data": data}))
        html = "".join(shown)
        cache.set(key, html, timeout=settings.NAV_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 (rendered by the panel templates, escaped there)
