"""The rollups' foreign keys without database constraints, as DailySpend's (0013).

They are copies of the daily rows' ids (GROUP BYs of DailySpend): the first batch of a month
inserts every group, and each was re-checked one by one at commit.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TARGETS = {"department": "tenants.department", "key": "keys.virtualkey", "user": settings.AUTH_USER_MODEL}
FIELDS = {
    "monthlykeyspend": ("department", "key", "user"),
    "monthlyspend": ("department",),
    "monthlyuserspend": ("department", "user"),
    "teamdayspend": ("department",),
}


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0013_daily_fk_without_constraints"),
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
