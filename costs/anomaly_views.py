"""Spend anomalies: infra sees all, a lead their departments', a developer their keys'."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import render

from portal.pagination import Paginator

from .models import SpendAnomaly


def anomaly_list(request):
    anomalies = SpendAnomaly.objects.select_related("department", "key")
    if not request.user.is_infra:
        anomalies = anomalies.filter(
            Q(department__in=request.user.departments_led()) | Q(key__requester=request.user)
        )
    page = Paginator(anomalies, 25).get_page(request.GET.get("page"))
    return render(request, "costs/anomalies.html", {"page": page})
