"""What the approval engine and its pages need to know about model access requests,
registered from ``ModelAccessConfig.ready()``: the facts stage conditions read, the queue's
summary, the task that applies an approved request, and the decision page's panel."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from approvals import panels, registry
from catalogue import services as catalogue
from portal import metrics
from portal import panels as portal_panels

from .models import ModelAccessRequest


def facts(obj: ModelAccessRequest) -> dict:
    """The model asked about (so a premium-model stage applies) and the expected monthly
    spend (so a budget-above stage does). No lifetime: auto-approval never applies."""
    return {
        "budget": obj.expected_monthly_spend,
        "lifetime_days": None,
        "models": [obj.model_name],
        "retention_days": None,
        "service_account": False,
        "change": obj.change,
    }


def summary(obj: ModelAccessRequest) -> str:
    """What a model access request asks, in the approval queue."""
    if obj.adds:
        return _("add %(model)s, about USD %(spend)s a month") % {
            "model": obj.model_name,
            "spend": obj.expected_monthly_spend,
        }
    return _("remove %(model)s") % {"model": obj.model_name}


def approved_message(obj: ModelAccessRequest) -> str:
    return _("Approved. %(model)s is being changed for %(dept)s and its LiteLLM team.") % {
        "model": obj.model_name,
        "dept": obj.department.name,
    }


def decision_panel(obj, ctx: dict) -> dict:
    """The model's catalogue entry (provider, prices), whether the department's policy counts
    it as premium, and the department's models now and after the change."""
    if not isinstance(obj, ModelAccessRequest):
        return {}
    department = obj.department
    allowed = sorted(department.allowed_models or [])
    premium = catalogue.premium_models([department.pk]).get(department.pk, set())
    return {
        "panel_templates": [*ctx.get("panel_templates", []), "modelaccess/_decision.html"],
        "access": {
            "catalogue": catalogue.by_name([obj.model_name]).get(obj.model_name),
            "premium": obj.model_name in premium,
            "allowed": allowed,
            "allowed_after": obj.allowed_after(allowed),
        },
    }


def catalogue_panel(user, ctx: dict) -> dict:
    """``/models/``: a "Request access" link for each model a department of the user lacks."""
    return {"request_access_url": reverse("model_access_request")}


def register() -> None:
    from catalogue import views as catalogue_views

    from . import tasks

    metrics.register_requests(ModelAccessRequest)
    registry.register(
        ModelAccessRequest,
        facts=facts,
        slug="model",
        summary=summary,
        tasks={"provision": tasks.apply_model_access},
        auto_approval=False,  # the policy's auto-approval thresholds never apply to models
    )
    panels.register(panels.DECISION, decision_panel)
    portal_panels.register(catalogue_views.PAGE, catalogue_panel)
