"""The beat schedule without a broker: each periodic task runs in this process when due.

For `make demo` on a machine without Redis (tasks run in-process there, and something still has
to run ingestion, expiry and alerts). Production runs ``celery -A portal beat`` instead.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic tasks of CELERY_BEAT_SCHEDULE in-process, each when it is due."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every task once and exit")

    def handle(self, *args, once: bool = False, **options):
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            raise CommandError("A broker is configured: run `celery -A portal beat` instead.")
        from portal.celery import app

        app.loader.import_default_modules()
        schedule = {
            name: (app.tasks[entry["task"]], float(entry["schedule"]))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        due = dict.fromkeys(schedule, time.monotonic())  # everything runs once at start
        while True:
            now = time.monotonic()
            for name, (task, every) in schedule.items():
                if due[name] > now:
                    continue
                due[name] = now + every
                result = task.apply()  # eager: subtasks it enqueues run here too
                if result.failed():
                    log.error("periodic task failed", extra={"task": name})
            if once:
                return
            time.sleep(max(0.5, min(due.values()) - time.monotonic()))
