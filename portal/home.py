"""The home page's panels. Apps above ``portal`` register what each role should see first
(from their ``AppConfig.ready()``), so this module imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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


def panels_for(user) -> list[tuple[str, dict]]:
    shown = []
    for panel in PANELS:
        data = panel.build(user)
        if data is not None:
            shown.append((panel.template, data))
    return shown
