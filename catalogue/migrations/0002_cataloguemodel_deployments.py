from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cataloguemodel",
            name="deployments",
            field=models.JSONField(blank=True, default=list, verbose_name="deployments"),
        ),
    ]
