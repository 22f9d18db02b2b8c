"""DailySpend's department, user and key without database constraints.

Ingestion resolves them by a join in its own statement; the deferred constraints re-checked
every inserted row one by one at commit (a third of a three-day batch's time). on_delete
(SET_NULL) is Django's, so deleting a department, user or key still empties them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

TARGETS = {"department": "tenants.department", "key": "keys.virtualkey", "user": settings.AUTH_USER_MODEL}
FIELDS = {"dailyspend": ("department", "key", "user")}


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0012_spend_fk_indexes_covered"),
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
