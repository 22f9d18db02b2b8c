from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render

from .access import department_for_lead, visible_departments


def department_list(request):
    departments = visible_departments(request.user).order_by("name")
    page = Paginator(departments, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tenants/department_list.html", {"page": page})


def department_detail(request, slug):
    department = department_for_lead(request.user, slug)
    members = department.memberships.select_related("user").order_by("role", "user__display_name")
    page = Paginator(members, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "tenants/department_detail.html", {"department": department, "page": page}
    )
