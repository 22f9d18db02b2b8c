"""Demo only: what `make demo` (scripts/demo.py) started and what it could not, for the page."""

from __future__ import annotations

from django.conf import settings


def demo_status() -> dict | None:
    """None outside demo mode. Inside, from DEMO_STATUS (set by scripts/demo.py), falling back
    to the settings when the portal was started some other way."""
    if not settings.DEMO_MODE:
        return None
    status = settings.DEMO_STATUS or {}
    litellm = status.get("litellm", "ok" if settings.LITELLM_BASE_URL else "")
    langfuse = "" if status.get("langfuse", "ok") == "ok" else status["langfuse"]
    database = status.get("database", settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1])
    return {
        "litellm_ok": litellm == "ok",
        "litellm_problem": "" if litellm == "ok" else litellm,
        "litellm_url": settings.LITELLM_PUBLIC_URL,
        "celery": not settings.CELERY_TASK_ALWAYS_EAGER,
        "ingest_seconds": settings.CELERY_BEAT_SCHEDULE["ingest-spend"]["schedule"],
        "postgresql": database.startswith("postgres"),
        "database_problem": database.partition(": ")[2],
        "langfuse": bool(settings.LANGFUSE_HOST),
        "langfuse_url": settings.LANGFUSE_HOST,
        # Why the demo left Langfuse out, unless it is merely not installed (the usual case).
        "langfuse_problem": "" if "not installed" in langfuse else langfuse,
    }
