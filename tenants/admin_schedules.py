"""The periodic schedules (django-celery-beat) in the admin, audited like every other admin
edit: infra may slow down or switch off a sync or a sweep here (``permissions.EDITABLE``), so
each save, delete and list action (enable, disable, toggle, run) leaves a before/after row
with who and from where."""

from __future__ import annotations

from django.contrib import admin
from django_celery_beat import admin as beat_admin
from django_celery_beat import models as beat

from portal.admin import AuditedModelAdmin

SCHEDULE_MODELS = [
    beat.PeriodicTask,
    beat.IntervalSchedule,
    beat.CrontabSchedule,
    beat.SolarSchedule,
    beat.ClockedSchedule,
]


def audit_schedules(site: admin.AdminSite = admin.site) -> None:
    """Replace django-celery-beat's admins with audited ones (same pages, same actions)."""
    for model in SCHEDULE_MODELS:
        original = type(site._registry[model]) if site.is_registered(model) else None
        if original is None:
            original = getattr(beat_admin, f"{model.__name__}Admin")
        else:
            site.unregister(model)
        audited = type(
            f"Audited{original.__name__}", (AuditedModelAdmin, original), {"__module__": __name__}
        )
        site.register(model, audited)


audit_schedules()
