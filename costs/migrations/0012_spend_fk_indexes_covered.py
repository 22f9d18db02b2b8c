"""No single-column index on the spend tables' foreign keys where another index covers them.

DailySpend's key and user are read through (key, day) and (user, day), its department only
within day ranges (the natural key); each rollup has a (department|key|user, month|day) index
leading with the same column. Every index dropped is one write less per ingested row.

Only the indexes are dropped: an AlterField would also drop and re-add (re-validate) each
foreign key constraint, a scan of the daily table.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TARGETS = {"department": "tenants.department", "key": "keys.virtualkey", "user": settings.AUTH_USER_MODEL}
FIELDS = {
    "dailyspend": ("department", "key", "user"),
    "monthlykeyspend": ("department", "key", "user"),
    "monthlyspend": ("department",),
    "monthlyuserspend": ("department", "user"),
    "teamdayspend": ("department",),
}


def reference(to, **options):
    return models.ForeignKey(
        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
        to=to, **options,
    )


INDEXES = {
    "costs_dailyspend": ("department_id_4d1d1d5d", "key_id_2dcbc00b", "user_id_52421295"),
    "costs_monthlykeyspend": ("department_id_1e888487", "key_id_e4e68db0", "user_id_073f8576"),
    "costs_monthlyspend": ("department_id_d00418e3",),
    "costs_monthlyuserspend": ("department_id_2aac93ad", "user_id_d9feddcc"),
    "costs_teamdayspend": ("department_id_8cc56937",),
}


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0011_my_spend_index"),
        ("keys", "0003_key_tags"),
        ("tenants", "0003_entra_users_are_not_superusers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{table}_{name}"',
                    f'CREATE INDEX IF NOT EXISTS "{table}_{name}" ON "{table}" '
                    f'("{name.rsplit("_", 1)[0]}")',
                )
                for table, names in INDEXES.items()
                for name in names
            ],
            state_operations=[
                migrations.AlterField(
                    model_name=model, name=field, field=reference(TARGETS[field], db_index=False)
                )
                for model, fields in FIELDS.items()
                for field in fields
            ],
        ),
    ]
