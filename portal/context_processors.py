from django.conf import settings


def navigation(request):
    """Role flags for the navigation, computed once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"DEMO_MODE": settings.DEMO_MODE, "SUPPORT_CONTACT": settings.SUPPORT_CONTACT}
    memberships = list(user.memberships.select_related("department"))
    is_lead = any(m.role == "lead" for m in memberships)
    # Anyone may have something to decide: leads, infra, and managers named as approvers.
    from costs.models import BudgetRequest
    from keys.models import TuningProject, VirtualKey

    pending = VirtualKey.objects.pending_for(user).count()
    pending += TuningProject.objects.pending_for(user).count()
    if user.is_infra:
        pending += BudgetRequest.objects.pending_for(user).count()
    return {
        "nav_pending": pending,
        "DEMO_MODE": settings.DEMO_MODE,
        "SUPPORT_CONTACT": settings.SUPPORT_CONTACT,
        "nav_memberships": memberships,
        "nav_is_lead": is_lead,
        "nav_is_infra": user.is_infra,
    }
