"""Review items named their grant's kind in the label, in the language of whoever started the
campaign; the page now shows the kind beside the label in the reader's language."""

from django.db import migrations

PREFIXES = (
    "virtual key: ",
    "tuning project: ",
    "pipeline identity: ",
    "仮想キー: ",
    "チューニングプロジェクト: ",
    "パイプライン ID: ",
)


def strip_kind(apps, schema_editor):
    ReviewItem = apps.get_model("approvals", "ReviewItem")
    for prefix in PREFIXES:
        for item in ReviewItem.objects.filter(label__startswith=prefix).only("label"):
            item.label = item.label[len(prefix) :]
            item.save(update_fields=["label"])


class Migration(migrations.Migration):
    dependencies = [("approvals", "0003_chat_interaction")]

    operations = [migrations.RunPython(strip_kind, migrations.RunPython.noop)]
