"""The spend tables' resolved ids without a single-column index or a database constraint.

Each table has a composite index leading with the column wherever it is looked up by it
(DailySpend: (key, day), (user, day), day ranges by the natural key; the rollups: (department|
key|user, month|day)), and each index more is written for every ingested row. The constraints
re-checked every new daily row and rollup group one by one at commit (a third of a three-day
batch's time); on_delete (SET_NULL) is Django's, so deleting a department, user or key still
empties them. One AlterField per field drops its index and its constraint and re-adds neither:
no scan of the daily table.
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


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0011_my_spend_index"),
        ("keys", "0003_key_tags"),
        ("tenants", "0003_entra_users_are_not_superusers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name=model,
            name=field,
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                related_name="+", to=TARGETS[field], db_index=False, db_constraint=False,
            ),
        )
        for model, fields in FIELDS.items()
        for field in fields
    ]
