"""Celery tasks for the directory."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True)
def sync_directory(run_id: int | None = None, actor_id: int | None = None) -> dict:
    """Hourly (and "Sync now"): read Entra groups from Graph, apply joiners and leavers."""
    from . import directory
    from .models import SyncRun, User

    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    if run is not None and run.status != SyncRun.Status.RUNNING:
        return {"run": run.pk, "status": run.status}  # a redelivered message: already done
    run = directory.sync(actor=actor or (run.triggered_by if run else None), run=run)
    return {"run": run.pk, "status": run.status, **run.counts}
