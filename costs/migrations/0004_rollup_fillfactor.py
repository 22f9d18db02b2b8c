"""Leave room on each page of the spend tables so re-read rows are updated in place.

Ingestion re-reads the last days every run and updates most of their rows (metrics only, no
indexed column): with free space on the page PostgreSQL makes these heap-only (HOT) updates,
which write no index entries.
"""

from django.db import migrations

TABLES = {
    "costs_dailyspend": 85,
    "costs_monthlyspend": 70,
    "costs_monthlyuserspend": 70,
    "costs_monthlykeyspend": 70,
    "costs_teamdayspend": 70,
}


class Migration(migrations.Migration):
    dependencies = [("costs", "0003_spend_anomaly")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE {table} SET (fillfactor = {fill})",
            f"ALTER TABLE {table} RESET (fillfactor)",
        )
        for table, fill in TABLES.items()
    ]
