"""The infra channel's incoming webhook (``NOTIFY_WEBHOOK_URL``: Teams and Slack incoming
webhooks both accept ``{"text": ...}``)."""

from __future__ import annotations

import logging

import httpx
from django.conf import settings

log = logging.getLogger(__name__)


def post(text: str, *, about: str) -> None:
    """Post ``text`` when a webhook is set. A failure is logged, never raised: a chat outage
    must not undo or block what it reports (``about``: which kind of notice, for the log)."""
    if not settings.NOTIFY_WEBHOOK_URL:
        return
    try:
        httpx.post(settings.NOTIFY_WEBHOOK_URL, json={"text": text}, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("webhook failed", extra={"about": about, "error": str(exc)})
