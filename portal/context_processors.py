from django.conf import settings


def navigation(request):
    """Role flags for the navigation, computed once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"DEMO_MODE": settings.DEMO_MODE}
    memberships = list(user.memberships.select_related("department"))
    return {
        "DEMO_MODE": settings.DEMO_MODE,
        "nav_memberships": memberships,
        "nav_is_lead": any(m.role == "lead" for m in memberships),
        "nav_is_infra": user.is_infra,
    }
