"""Infra fixes drift from the operations page: one finding, or every fixable one at once.
Each goes through ``keys.drift``'s locked, audited functions on its own."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from portal.integrations.errors import IntegrationError
from tenants.access import infra_required

from . import drift
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
