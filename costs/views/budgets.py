"""Budgets on the cost pages: member budgets, a lead's budget request, the alerts list."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.forms import errors_as_messages
from portal.pagination import Paginator
from tenants.access import department_for_lead
from tenants.models import Membership

from .. import budgets
from ..forms import BudgetRequestForm, MemberBudgetForm
from ..member_budgets import set_member_budget as save_member_budget
from ..models import BudgetAlert, MemberBudget
from ..reports import month_context


def member_budgets(request, slug: str):
    """Members of a department with their optional monthly budgets (lead or infra)."""
    dept = department_for_lead(request.user, slug)
    budget = MemberBudget.objects.filter(department=dept, user=OuterRef("user"))
    members = (
        Membership.objects.filter(department=dept)
        .select_related("user")
        .annotate(
            budget=Subquery(budget.values("monthly_budget")[:1]),
            enforced=Subquery(budget.values("enforced")[:1]),
        )
        .order_by("user__display_name", "user__username")
    )
    page = Paginator(members, 25).get_page(request.GET.get("page"))
    ctx = month_context(request)
    return render(request, "costs/member_budgets.html", {**ctx, "department": dept, "page": page})


@require_POST
def set_member_budget(request, slug: str):
    """A lead (or infra) sets or clears one member's monthly budget. Audited."""
    dept = department_for_lead(request.user, slug)
    form = MemberBudgetForm(request.POST)
    if not form.is_valid():
        if "member" in form.errors:
            raise Http404
        return HttpResponse(_("Enter an amount in USD."), status=400)  # page is never an error
    membership = get_object_or_404(
        Membership.objects.select_related("user"),
        department=dept,
        user_id=form.cleaned_data["member"],
    )
    save_member_budget(
        dept,
        membership.user,
        form.cleaned_data["monthly_budget"],
        enforced=form.cleaned_data["enforced"],
        actor=request.user,
        request=request,
    )
    amount = form.cleaned_data["monthly_budget"]
    if amount:
        messages.success(
            request,
            _("Monthly budget of %(who)s set to USD %(amount)s.")
            % {"who": membership.user, "amount": amount.quantize(Decimal("0.01"))},
        )
    else:
        messages.success(request, _("Budget of %(who)s removed.") % {"who": membership.user})
    url = reverse("costs_member_budgets", args=[dept.slug])
    return redirect(f"{url}?page={form.cleaned_data['page']}")


def alert_list(request):
    alerts = BudgetAlert.objects.select_related("department", "user", "key")
    if not request.user.is_infra:
        alerts = alerts.filter(
            Q(department__in=request.user.departments_led()) | Q(key__requester=request.user)
        )
    page = Paginator(alerts, 25).get_page(request.GET.get("page"))
    return render(request, "costs/alerts.html", {"page": page})


@require_POST
def budget_request(request, slug: str):
    """A lead asks infra for a different monthly budget (same approval workflow as keys)."""
    dept = department_for_lead(request.user, slug)
    if not request.user.is_lead_of(dept):
        raise PermissionDenied  # infra change budgets directly
    form = BudgetRequestForm(request.POST)
    if form.is_valid():
        budgets.request_budget(
            dept,
            lead=request.user,
            monthly_budget=form.cleaned_data["monthly_budget"],
            justification=form.cleaned_data["justification"],
            request=request,
        )
        messages.success(request, _("Budget request sent to the platform team."))
    else:
        errors_as_messages(request, form)
    return redirect("costs_department", slug=dept.slug)
