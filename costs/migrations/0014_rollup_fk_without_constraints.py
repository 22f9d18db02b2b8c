"""The rollups' foreign keys without database constraints, as DailySpend's (0013).

They are copies of the daily rows' ids (GROUP BYs of DailySpend): the first batch of a month
inserts every group, and each was re-checked one by one at commit.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('costs', '0013_daily_fk_without_constraints'),
        ('keys', '0003_key_tags'),
        ('tenants', '0003_entra_users_are_not_superusers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='monthlykeyspend',
            name='department',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.department'),
        ),
        migrations.AlterField(
            model_name='monthlykeyspend',
            name='key',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='keys.virtualkey'),
        ),
        migrations.AlterField(
            model_name='monthlykeyspend',
            name='user',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='monthlyspend',
            name='department',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.department'),
        ),
        migrations.AlterField(
            model_name='monthlyuserspend',
            name='department',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.department'),
        ),
        migrations.AlterField(
            model_name='monthlyuserspend',
            name='user',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='teamdayspend',
            name='department',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='tenants.department'),
        ),
    ]
