"""Registries through which an app adds to a lower app's page without being imported by it.

A registry is a list of panels; each panel takes the object shown and the context so far,
and returns more context. The apps above fill them from ``AppConfig.ready()``."""

from __future__ import annotations

from collections.abc import Callable

Panel = Callable[[object, dict], dict]


def register(registry: list[Panel], panel: Panel) -> None:
    if panel not in registry:
        registry.append(panel)


def run(registry: list[Panel], obj, ctx: dict) -> dict:
    for panel in registry:
        ctx.update(panel(obj, ctx))
    return ctx
