"""Re-encrypt every stored secret with the newest key in SECRETS_FERNET_KEYS.

Secrets wait encrypted until their one reveal; after a key rotation run this, then drop the
old key. Every model field whose name ends in ``_encrypted`` is re-encrypted.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from portal import crypto


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the newest Fernet key (after a key rotation)."

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.concrete_fields if f.name.endswith("_encrypted")]
            for name in fields:
                with transaction.atomic():
                    rows = model._default_manager.select_for_update().exclude(**{name: ""})
                    for pk, token in rows.values_list("pk", name):
                        model._default_manager.filter(pk=pk).update(**{name: crypto.rotate(token)})
                        total += 1
        self.stdout.write(f"{total} secret(s) re-encrypted with the newest key.")
