from django.core.management.base import BaseCommand, CommandError

from tenants import directory
from tenants.models import SyncRun


class Command(BaseCommand):
    help = "Sync departments, roles and leavers from Microsoft Graph (Entra ID groups)."

    def handle(self, *args, **options):
        run = directory.sync()
        if run.status != SyncRun.Status.OK:
            raise CommandError(f"directory sync {run.pk} failed: {run.error}")
        counts = ", ".join(f"{k}={v}" for k, v in run.counts.items())
        self.stdout.write(self.style.SUCCESS(f"directory sync {run.pk} ok: {counts}"))
        for change in run.changes:
            dept = f" [{change['department']}]" if change.get("department") else ""
            self.stdout.write(f"  {change['kind']}: {change['email'] or change['user']}{dept}")
