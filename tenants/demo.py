"""Demo only: sign in as a seeded demo user without an Entra tenant (DEMO_MODE=1, DEBUG=1)."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from portal import audit
from portal.demo import demo_status

from .models import User

DEMO_SIGNED_IN = audit.action("user.demo_signed_in")

DEMO_EMAIL_DOMAIN = "demo.example"


def demo_users():
    return User.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}").prefetch_related(
        "memberships__department"
    )


@login_not_required
def demo_sign_in(request):
    if not settings.DEMO_MODE:
        raise Http404
    if request.method == "POST":
        user = get_object_or_404(demo_users(), pk=request.POST.get("user"))
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        audit.record(DEMO_SIGNED_IN, user, actor=user, request=request)
        return redirect("home")
    return render(
        request, "tenants/demo_sign_in.html", {"users": demo_users(), "demo": demo_status()}
    )
