"""Registries through which apps above ``keys`` add to its pages without being imported:
``costs`` registers spend panels for the decision page and the key page."""

from __future__ import annotations

from collections.abc import Callable

# Each panel takes the object shown and the context so far, and returns more context.
DECISION: list[Callable[[object, dict], dict]] = []
KEY_DETAIL: list[Callable[[object, dict], dict]] = []


def register(registry: list, panel: Callable[[object, dict], dict]) -> None:
    if panel not in registry:
        registry.append(panel)


def run(registry: list, obj, ctx: dict) -> dict:
    for panel in registry:
        ctx.update(panel(obj, ctx))
    return ctx
