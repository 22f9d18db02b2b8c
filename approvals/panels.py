"""Registries through which the kinds' apps add to the approval pages without being imported:
each kind adds its facts to the decision page (keys: the policy checks and the requester's
keys; costs: spend beside the decision)."""

from __future__ import annotations

from portal.panels import Panel, register, run

__all__ = ["DECISION", "register", "run"]

DECISION: list[Panel] = []
