"""Registries of the keys pages, filled by apps beside keys from their ``AppConfig.ready()``:
``costs`` adds the key's spend; ``projects`` adds its work to infra's operations page, to
the home page's operations card, to the developer's requests and to reconcile."""

from __future__ import annotations

from portal.panels import Panel, register, run

__all__ = [
    "HOME_DEVELOPER",
    "HOME_INFRA",
    "KEY_DETAIL",
    "OPERATIONS",
    "RECONCILE",
    "register",
    "run",
]

KEY_DETAIL: list[Panel] = []
# These take the user whose page it is.
OPERATIONS: list[Panel] = []
HOME_INFRA: list[Panel] = []
# The developer's "My requests" card: other kinds of request add theirs to its lists.
HOME_DEVELOPER: list[Panel] = []
# Functions that return more reconcile findings (list of dicts); they raise IntegrationError.
RECONCILE: list = []
