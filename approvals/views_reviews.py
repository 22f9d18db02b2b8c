"""Access reviews: infra starts a campaign and follows it per department; leads keep or
revoke each grant with a reason; auditors get a CSV."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from portal import csv_safe
from portal.pagination import Paginator
from tenants.access import infra_required

from . import reviews
from .forms import CampaignForm, ReviewDecisionForm
from .pages import attempt
from .review_models import ReviewCampaign, ReviewItem


def review_list(request):
    form = None
    if request.user.is_infra:
        form = CampaignForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            campaign = reviews.start(
                name=data["name"], departments=data["departments"], deadline=data["deadline"],
                at_deadline=data["at_deadline"], actor=request.user, request=request,
            )  # fmt: skip
            messages.success(
                request,
                _("Review started: %(count)d items.") % {"count": campaign.items.count()},
            )
            return redirect(campaign)
    elif request.method == "POST":
        raise PermissionDenied
    campaigns = ReviewCampaign.objects.all()
    if not request.user.is_infra:
        campaigns = campaigns.filter(items__in=reviews.items_for(request.user)).distinct()
    context = {"campaigns": campaigns[:50], "form": form}
    return render(request, "approvals/reviews.html", context)


def review_campaign(request, pk):
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    items = reviews.items_for(request.user).filter(campaign=campaign)
    if not request.user.is_infra and not items.exists():
        raise Http404
    state = request.GET.get("show", "pending")
    if state == "pending":
        items = items.filter(decision=ReviewItem.Decision.PENDING)
    page = Paginator(items, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    reviews.with_facts(page.object_list)
    context = {
        "campaign": campaign,
        "page": page,
        "remaining": reviews.items_for(request.user)
        .filter(campaign=campaign, decision=ReviewItem.Decision.PENDING)
        .count(),
        "progress": reviews.progress(campaign) if request.user.is_infra else None,
        "show": state,
        "form": ReviewDecisionForm(),
    }
    return render(request, "approvals/review_campaign.html", context)


@require_POST
def review_item(request, pk):
    item = get_object_or_404(ReviewItem.objects.select_related("campaign"), pk=pk)
    if not reviews.can_review(item, request.user):
        raise Http404
    form = ReviewDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose keep or revoke and give a reason."))
        return redirect(item.campaign)
    keep = form.cleaned_data["decision"] == "keep"
    if attempt(request, reviews.decide, item, keep=keep, reason=form.cleaned_data["reason"]):
        messages.success(
            request,
            (_("%(item)s kept.") if keep else _("%(item)s revoked.")) % {"item": item.label},
        )
    return redirect(item.campaign)


@require_POST
def keep_remaining(request, pk):
    """Keep every item still waiting for this reviewer in the campaign, with one reason."""
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    if not reviews.items_for(request.user).filter(campaign=campaign).exists():
        raise Http404
    reason = (request.POST.get("reason") or "").replace("\x00", "").strip()[:2000]
    if not reason:
        messages.error(request, _("Give a reason for keeping them."))
        return redirect(campaign)
    kept = reviews.keep_remaining(campaign, actor=request.user, reason=reason, request=request)
    messages.success(
        request,
        ngettext("%(count)d item kept.", "%(count)d items kept.", kept) % {"count": kept},
    )
    return redirect(campaign)


@infra_required
def review_csv(request, pk):
    campaign = get_object_or_404(ReviewCampaign, pk=pk)
    writer = csv_safe.Writer()  # formula-like text is neutralised (a lead's reason)
    rows = (writer.writerow(r) for r in [reviews.CSV_HEADER, *reviews.csv_rows(campaign)])
    response = StreamingHttpResponse(rows, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="access-review-{campaign.pk}.csv"'
    return response
