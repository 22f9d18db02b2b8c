from django import template

from .. import engine

register = template.Library()


@register.inclusion_tag("approvals/_stages.html")
def approval_stages(obj):
    """The request's approval stages and where it stands (nothing for a request without)."""
    stages = list(engine.stages_for(obj).prefetch_related("approvers", "decisions__actor"))
    return {"stages": stages, "obj": obj}
