"""The key page's registry: ``costs`` adds the key's spend from its ``AppConfig.ready()``."""

from __future__ import annotations

from portal.panels import Panel, register, run

__all__ = ["KEY_DETAIL", "register", "run"]

KEY_DETAIL: list[Panel] = []
