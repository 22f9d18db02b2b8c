from celery import shared_task

from portal.integrations.errors import IntegrationError


@shared_task
def refresh_catalogue() -> dict[str, int] | str:
    """Periodic: read LiteLLM's models and prices. LiteLLM down: keep the last catalogue."""
    from . import services

    try:
        return services.refresh()
    except IntegrationError as exc:
        return f"skipped: {exc}"
