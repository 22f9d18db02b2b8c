from celery import shared_task

from approvals.tasks import run_provisioning

from . import actions
from .models import ModelAccessRequest


@shared_task(bind=True, acks_late=True, max_retries=None)
def apply_model_access(self, request_id: int) -> None:
    """Apply an approved model access request: the department's models, then LiteLLM's team."""
    run_provisioning(self, ModelAccessRequest, request_id, actions.apply)
