"""Reconcile on the restored database (bench/soak.py's restore drill), as a restored portal
runs it: prints its findings and the tokens the restored portal believes live, as JSON."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from approvals.lifecycle import Status  # noqa: E402
from keys.models import VirtualKey  # noqa: E402
from keys.reconcile import reconcile  # noqa: E402

run = reconcile()
live = VirtualKey.objects.filter(status__in=[Status.ACTIVE, Status.SUSPENDED])
print(
    json.dumps(
        {
            "findings": run.findings,
            "error": run.error,
            "believed": list(live.values_list("litellm_key_id", flat=True)),
            "active": list(
                live.filter(status=Status.ACTIVE).values_list("litellm_key_id", flat=True)
            ),
            # Being provisioned at the dump, with the secret kept: the restored portal's
            # stalled-work sweep finds that key and finishes the request (not drift).
            "in_flight": list(
                VirtualKey.objects.filter(status=Status.PROVISIONING)
                .exclude(litellm_key_id="")
                .values_list("litellm_key_id", flat=True)
            ),
        }
    )
)
