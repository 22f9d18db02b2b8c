from django.db import migrations


class Migration(migrations.Migration):
    """Tuning projects now live in the ``projects`` app (its migration 0001): removed from this
    app's state only; the tables and their rows stay where they are."""

    dependencies = [
        ("keys", "0004_key_token"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="tuningproject", name="approver"),
                migrations.RemoveField(model_name="tuningproject", name="decided_by"),
                migrations.RemoveField(model_name="tuningproject", name="department"),
                migrations.RemoveField(model_name="tuningproject", name="requester"),
                migrations.RemoveField(model_name="tuningproject", name="route_key"),
                migrations.DeleteModel(name="ProjectMetricsDay"),
                migrations.DeleteModel(name="TuningProject"),
            ],
            database_operations=[],
        )
    ]
