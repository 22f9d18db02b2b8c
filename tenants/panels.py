"""Registries through which apps above ``tenants`` add to its pages without being imported:
``keys`` registers the department page's tuning projects."""

from __future__ import annotations

from portal.panels import Panel, register, run

__all__ = ["DEPARTMENT_DETAIL", "register", "run"]

# Panels of the department page take the department.
DEPARTMENT_DETAIL: list[Panel] = []
