from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = _("Pipeline identities")

    def ready(self) -> None:
        from portal import metrics
        from tenants import panels as tenant_panels

        from . import decision_panel, department_panel
        from .models import PipelineIdentity
        from .requests import approval_panels, registry
        from .tasks import provision_identity

        metrics.register_requests(PipelineIdentity)
        tenant_panels.register(tenant_panels.DEPARTMENT_DETAIL, department_panel.panel)
        approval_panels.register(approval_panels.DECISION, decision_panel.panel)
        registry.register(
            PipelineIdentity,
            facts=identity_facts,
            slug="pipeline",
            tasks={"provision": provision_identity},
            summary=identity_summary,
            auto_approval=True,
        )


def identity_facts(identity) -> dict:
    """What approval stage conditions and the auto-approval thresholds read: its daily budget,
    how long it is trusted, its models; a pipeline acts without a person, as a service account
    does."""
    return {
        "budget": identity.daily_budget,
        "lifetime_days": identity.lifetime_days,
        "models": list(identity.llm_models or []),
        "retention_days": None,
        "service_account": True,
    }


def identity_summary(identity) -> str:
    """What an identity asks, in the approval queue."""
    from portal.templatetags.portal_ui import days_text, money_text

    models = ", ".join(identity.llm_models or [])
    daily = _("USD %(amount)s a day") % {"amount": money_text(identity.daily_budget)}
    return f"{models} · {daily} · {days_text(identity.lifetime_days)}"
