from django.db import migrations


def demote(apps, schema_editor):
    # Infra's admin rights now come from tenants.permissions; Entra users are never superusers.
    User = apps.get_model("tenants", "User")
    User.objects.exclude(entra_oid__isnull=True).exclude(entra_oid="").update(is_superuser=False)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_department_approver_rule_syncrun")]
    operations = [migrations.RunPython(demote, migrations.RunPython.noop)]
