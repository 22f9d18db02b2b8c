"""``manage.py backfill_spend --days N``: read N days of LiteLLM spend into the rollups."""

from django.core.management.base import BaseCommand

from costs.tasks import run_ingestion


class Command(BaseCommand):
    help = "Read the last N UTC days of spend from LiteLLM (/team/daily/activity) and upsert them."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90)

    def handle(self, *args, days: int, **options):
        result = run_ingestion(days)
        self.stdout.write(
            f"{result.rows} rows upserted over {days} days "
            f"({len(result.months)} months, {len(result.teams)} teams)"
        )
