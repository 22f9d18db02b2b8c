"""Infra fixes drift from the operations page: one finding, or every fixable one at once.
Each goes through ``keys.drift``'s locked, audited functions on its own. Keys unknown to the
portal or gone from LiteLLM (after a restore) are resolved one by one (``keys.resolve``)."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from portal.integrations.errors import IntegrationError
from tenants.access import infra_required

from . import drift, resolve
from .models import ReconcileRun

FIXABLE = {"mismatch": "key", "blocked": "key", "team": "team"}


def fixable(run: ReconcileRun | None) -> list[str]:
    """The findings of the last run that a fix can act on, as ``key:ID`` / ``team:ID``."""
    refs = []
    for finding in run.findings if run else []:
        target = FIXABLE.get(finding.get("kind"))
        ident = finding.get("key_id" if target == "key" else "department_id")
        if target and isinstance(ident, int):
            refs.append(f"{target}:{ident}")
    return refs


def reconcile_state(request, run: ReconcileRun | None) -> dict:
    """What the reconcile part of the operations page needs: whether it should poll (a run
    started from the page has not finished, or has not begun yet) and how many findings a fix
    can act on."""
    waiting = request.GET.get("waiting", "")
    since = None
    if waiting.isdigit() and len(waiting) < 12:
        since = datetime.datetime.fromtimestamp(int(waiting), tz=datetime.UTC)
    pending = bool(run and not run.finished_at) or bool(
        since and (run is None or run.started_at < since)
    )
    return {
        "reconcile_pending": pending,
        "waiting": waiting if since else "",
        "fixable_count": len(fixable(run)),
        "resolve_unknown": [("adopt", _("Adopt")), ("block", _("Block")), ("delete", _("Delete"))],
    }


@require_POST
@infra_required
def fix_drift(request):
    """POST ``finding=key:12`` (repeatable) or ``all=1``: make LiteLLM match the portal."""
    run = ReconcileRun.objects.first()
    offered = fixable(run)
    wanted = offered if request.POST.get("all") else request.POST.getlist("finding")
    refs = [ref for ref in wanted if ref in offered]  # only what the page offered
    if not refs:
        messages.error(request, _("Nothing to fix: run reconcile again to see the drift now."))
        return redirect("operations")
    done, failed = [], []
    for ref in refs:
        target, ident = ref.split(":")
        fix = drift.make_key_match if target == "key" else drift.make_team_match
        try:
            fix(int(ident), actor=request.user, request=request)
        except IntegrationError as exc:
            failed.append(f"{ref}: {exc}")
        else:
            done.append(ref)
    with transaction.atomic():  # the page shows what is left; the next reconcile re-checks all
        run = ReconcileRun.objects.select_for_update().get(pk=run.pk)
        run.findings = [
            f
            for f in run.findings
            if f"{FIXABLE.get(f.get('kind'), '')}:{f.get('key_id', f.get('department_id'))}"
            not in done
        ]
        run.save(update_fields=["findings"])
    if done:
        messages.success(
            request,
            ngettext(
                "LiteLLM matches the portal now for %(n)s finding. Reconcile again to confirm.",
                "LiteLLM matches the portal now for %(n)s findings. Reconcile again to confirm.",
                len(done),
            )
            % {"n": len(done)},
        )
    if failed:
        messages.error(
            request,
            _("Could not fix, nothing changed for these: %(errors)s")
            % {"errors": "; ".join(failed)},
        )
    return redirect("operations")


RESOLUTIONS = {"unknown": ("adopt", "block", "delete"), "deleted": ("end",)}


@require_POST
@infra_required
def resolve_drift(request):
    """POST ``resolve=<action>:<token>``: adopt, block or delete a key the portal does not
    know, or end one LiteLLM no longer has (``keys.resolve``). Only a finding of the last run,
    with an action offered for its kind."""
    run = ReconcileRun.objects.first()
    action, _sep, token = request.POST.get("resolve", "").partition(":")
    finding = next((f for f in run.findings if f.get("token") == token), None) if run else None
    if not token or finding is None or action not in RESOLUTIONS.get(finding["kind"], ()):
        messages.error(request, _("Nothing to resolve: run reconcile again to see the drift now."))
        return redirect("operations")
    do = {
        "adopt": resolve.adopt,
        "block": resolve.block_unknown,
        "delete": resolve.delete_unknown,
        "end": resolve.end_deleted,
    }[action]
    try:
        do(token, actor=request.user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("operations")
    except IntegrationError as exc:
        messages.error(request, _("Could not resolve, nothing changed: %(error)s") % {"error": exc})
        return redirect("operations")
    with transaction.atomic():
        run = ReconcileRun.objects.select_for_update().get(pk=run.pk)
        run.findings = [f for f in run.findings if f.get("token") != token]
        run.save(update_fields=["findings"])
    messages.success(request, _("Resolved %(alias)s.") % {"alias": finding.get("alias") or token})
    return redirect("operations")
