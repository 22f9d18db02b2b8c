"""Registries through which apps above ``keys`` add to its pages without being imported:
``costs`` registers spend panels for the decision page and the key page, and its budget
requests for the approval queue."""

from __future__ import annotations

from portal.panels import Panel, register, run

__all__ = ["APPROVAL_QUEUE", "DECISION", "KEY_DETAIL", "register", "run"]

DECISION: list[Panel] = []
KEY_DETAIL: list[Panel] = []
# The approval queue's panels take the user whose queue it is.
APPROVAL_QUEUE: list[Panel] = []
