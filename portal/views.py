"""Home page, health checks and the audit log browser."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from portal.pagination import Paginator

from . import audit, audit_display, csv_safe
from . import home as home_panels
from .access import infra_required
from .demo import demo_status
from .forms import AuditFilterForm
from .models import AuditEvent


def home(request):
    memberships = request.user.memberships_once()
    if not memberships and not request.user.is_infra:
        return render(request, "portal/no_department.html", status=200)
    context = {
        "memberships": memberships,
        "panels": home_panels.panels_for(request.user),
        "demo": demo_status(),
    }
    return render(request, "portal/home.html", context)


@login_not_required
@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: send them to the icon."""
    return redirect(static("favicon.svg"), permanent=True)


@login_not_required
@require_GET
@never_cache
def healthz(request):
    """The process is up. No dependencies checked: for liveness probes."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2).ping()
    return "ok"


READINESS_CHECKS = {"database": _check_database, "broker": _check_broker}


@login_not_required
@require_GET
@never_cache
def readyz(request):
    """Can serve traffic: every dependency answers. 503 with the failures otherwise."""
    checks, ok = {}, True
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = {"status": check()}
        except Exception as exc:  # any failure means not ready; say which
            ok = False
            checks[name] = {"status": "error", "error": exc.__class__.__name__}
    return JsonResponse(
        {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )


@infra_required
def audit_log(request):
    events = AuditEvent.objects.select_related("actor")
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    if filters["action"]:
        events = events.filter(action__startswith=filters["action"])
    if filters["actor"]:
        events = events.filter(actor_label=filters["actor"])
    if filters["object_type"]:
        events = events.filter(object_type__in=audit.labels_for(filters["object_type"]))
    if filters["since"]:
        events = events.filter(created_at__date__gte=form.cleaned_data["since"])
    if request.GET.get("format") == "csv":
        return _audit_csv(events)
    page = Paginator(events, settings.PAGE_SIZE).get_page(request.GET.get("page"))
    names = audit_display.related_names(page.object_list)
    audit_display.link_events(page.object_list)
    for event in page.object_list:
        event.label = audit_display.action_label(event.action)
        event.changes = audit_display.changes(event, names)
    template = "portal/_audit_rows.html" if request.htmx else "portal/audit_log.html"
    context = {"page": page, "filters": filters, "time_zone": settings.TIME_ZONE}
    if not request.htmx:
        context["choices"] = _audit_choices()
    return render(request, template, context)


@login_not_required
@require_GET
@never_cache
def metrics(request):
    """Prometheus figures, for the monitoring system only: a bearer token (METRICS_TOKEN)."""
    from . import metrics as portal_metrics

    if not settings.METRICS_TOKEN:
        raise Http404  # not configured: not there
    if not portal_metrics.authorized(
        request.headers.get("Authorization", ""), settings.METRICS_TOKEN
    ):
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(portal_metrics.render(), content_type=CONTENT_TYPE_LATEST)


def _audit_choices() -> dict:
    """The values the filters offer: every action, actor and object type seen so far."""
    distinct = AuditEvent.objects.order_by()
    actions = sorted(set(distinct.values_list("action", flat=True).distinct()))
    return {
        "actions": [(a, audit_display.action_label(a)) for a in actions],
        "actors": sorted(set(distinct.values_list("actor_label", flat=True).distinct())),
        "object_types": sorted(set(distinct.values_list("object_type", flat=True).distinct())),
    }


def _audit_csv(events):
    """The filtered log as CSV (UTF-8 with BOM for Excel), times in the portal's zone."""
    writer = csv_safe.Writer()  # formula-like text is neutralised
    columns = ["when", "who", "action", "object_type", "object_id", "object", "changes", "ip"]

    def rows():
        yield "\ufeff" + writer.writerow(columns)
        for chunk in _chunks(events.iterator(chunk_size=1000), 1000):
            names = audit_display.related_names(chunk)
            for e in chunk:
                yield _csv_row(writer, e, names)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response


def _chunks(iterable, size: int):
    """Lists of ``size`` items, so foreign keys are named with one query per model and chunk."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _csv_row(writer, e, names) -> str:
    when = timezone.localtime(e.created_at).isoformat(timespec="seconds")
    changes = audit_display.changes_text(e, names)
    cells = [when, e.actor_label, e.action, e.object_type, e.object_id]
    cells += [e.object_repr, changes, e.ip_address or ""]
    return writer.writerow(cells)
