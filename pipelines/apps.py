from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = _("Pipeline identities")

    def ready(self) -> None:
        from portal import metrics
        from tenants import panels as tenant_panels

        from . import department_panel
        from .models import PipelineIdentity
        from .requests import registry
        from .tasks import provision_identity

        metrics.register_requests(PipelineIdentity)
        tenant_panels.register(tenant_panels.DEPARTMENT_DETAIL, department_panel.panel)
        registry.register(
            PipelineIdentity,
            facts=identity_facts,
            slug="pipeline",
            tasks={"provision": provision_identity},
        )


def identity_facts(identity) -> dict:
    """What approval stage conditions read: its daily budget, its models; a pipeline acts
    without a person, as a service account does."""
    return {
        "budget": identity.daily_budget,
        "models": list(identity.llm_models or []),
        "retention_days": None,
        "service_account": True,
    }
