from django.conf import settings


def navigation(request):
    """Role flags for the navigation, computed once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"DEMO_MODE": settings.DEMO_MODE}
    memberships = list(user.memberships.select_related("department"))
    is_lead = any(m.role == "lead" for m in memberships)
    pending = 0
    if is_lead or user.is_infra:
        from keys.models import TuningProject, VirtualKey

        pending = VirtualKey.objects.pending_for(user).count()
        pending += TuningProject.objects.pending_for(user).count()
    return {
        "nav_pending": pending,
        "DEMO_MODE": settings.DEMO_MODE,
        "nav_memberships": memberships,
        "nav_is_lead": is_lead,
        "nav_is_infra": user.is_infra,
    }
